package registry

import (
	"bytes"
	"container/list"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// schemaURL is where an input schema is compiled: a fixed name under the
// reserved .invalid domain, so a relative $ref resolves to nothing on this
// server and messages never show a server path. It is cut from messages.
const schemaURL = "https://input-schema.kitaru.invalid/schema.json"

// errOutsideDocument is what the loader answers for every URL: input schemas
// may only refer into themselves, so nothing is ever read or fetched.
var errOutsideDocument = errors.New("only in-document refs are allowed")

// refusingLoader is the compiler's only loader. The library's default reads
// files (and a relative $ref resolves against the working directory), which
// let a deploy read the server's files; this one reads nothing. The JSON
// Schema metaschemas are built into the library and never reach a loader.
type refusingLoader struct{}

func (refusingLoader) Load(string) (any, error) { return nil, errOutsideDocument }

// InputSchema is a compiled input schema.
type InputSchema struct {
	schema *jsonschema.Schema
}

// CompileInputSchema checks that schema is a usable JSON Schema: at most
// MaxInputsBytes, passing CheckJSON, valid against its draft (2020-12 unless
// $schema names another built-in draft), and referring only into itself
// ("#/$defs/x", "#anchor"), and bounded in the work it makes a validation
// do (checkSchemaCost). Errors: invalid_argument, payload_too_large.
func CompileInputSchema(schema json.RawMessage) (*InputSchema, error) {
	if len(schema) > MaxInputsBytes {
		return nil, Errorf(CodePayloadTooLarge, "input_schema is larger than %d KiB", MaxInputsBytes>>10)
	}
	if err := CheckJSON(schema, "input_schema", MaxJSONDepth); err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, Errorf(CodeInvalidArgument, "input_schema is not valid JSON: %v", err)
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, Errorf(CodeInvalidArgument, "input_schema must be a JSON object (a JSON Schema)")
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(refusingLoader{})
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, Errorf(CodeInvalidArgument, "input_schema is not a JSON Schema: %s", schemaMessage(err))
	}
	sch, err := c.Compile(schemaURL)
	var loadErr *jsonschema.LoadURLError
	switch {
	case errors.As(err, &loadErr):
		ref := outsideRef(doc)
		if ref == "" {
			ref = strings.TrimPrefix(loadErr.URL, schemaURL)
		}
		return nil, Errorf(CodeInvalidArgument, `input_schema refers to %q, outside itself: only in-document refs ("#/…", such as "#/$defs/name") are allowed; copy the schema it names under "$defs"`, clip(ref)).
			WithDetails("ref", clip(ref))
	case err != nil:
		return nil, Errorf(CodeInvalidArgument, "input_schema is not a valid JSON Schema: %s", schemaMessage(err))
	}
	if err := checkSchemaCost(sch); err != nil {
		return nil, err
	}
	return &InputSchema{schema: sch}, nil
}

// schemaMessage is a compile error as text, without the schema's made-up URL.
func schemaMessage(err error) string {
	return clipLong(strings.ReplaceAll(err.Error(), schemaURL, ""))
}

// outsideRef finds a $ref-like keyword of doc that does not start with "#",
// the first in sorted order, or "".
func outsideRef(doc any) string {
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				if s, ok := child.(string); ok && (k == "$ref" || k == "$dynamicRef" || k == "$recursiveRef") && !strings.HasPrefix(s, "#") {
					refs = append(refs, s)
				}
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(doc)
	if len(refs) == 0 {
		return ""
	}
	return slices.Min(refs)
}

// printer words validation messages; built on first use, since building it
// at init would cost every function's cold start.
var printer = sync.OnceValue(func() *message.Printer { return message.NewPrinter(language.English) })

// StoredSchemaError explains a deployment's saved input schema that no
// longer compiles (saved before a rule was added): the invoker cannot fix
// it, a new deploy can. Errors: unprocessable.
func StoredSchemaError(err error) error {
	var e *Error
	msg := err.Error()
	if errors.As(err, &e) {
		msg = e.Message
	}
	return Errorf(CodeUnprocessable, "the deployment's input_schema is no longer accepted (%s); deploy the flow again with a fixed input_schema", msg)
}

// Validate checks merged inputs, the ones an invoke runs with, against the
// schema, required inputs included. A violation is unprocessable, names the
// offending keys in its "keys" detail, and says how to see the parameters.
func (s *InputSchema) Validate(inputs json.RawMessage) error {
	problems, keys, err := s.problems(inputs, false)
	if err != nil || len(problems) == 0 {
		return err
	}
	return Errorf(CodeUnprocessable, "inputs do not match the deployment's input schema: %s; the deployment's input_schema lists the flow's parameters", strings.Join(problems, "; ")).
		WithDetails("keys", keys).WithReason(ReasonInputsMismatch)
}

// ValidateDeployInputs checks a deploy's inputs against the schema given with
// them. A required input may be missing, since the invoker may supply it;
// an unknown key or a wrong value is unprocessable and named in "keys".
func (s *InputSchema) ValidateDeployInputs(inputs json.RawMessage) error {
	problems, keys, err := s.problems(inputs, true)
	if err != nil || len(problems) == 0 {
		return err
	}
	return Errorf(CodeUnprocessable, "the deploy-time inputs do not match input_schema: %s; fix the inputs or the input_schema", strings.Join(problems, "; ")).
		WithDetails("keys", keys)
}

// problems lists, sorted, what makes inputs fail the schema and the keys
// concerned. With allowMissing, a top-level required input that is absent
// is no problem: an invoke may add top-level keys, nothing deeper.
func (s *InputSchema) problems(inputs json.RawMessage, allowMissing bool) (problems, keys []string, err error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(inputs))
	if err != nil {
		return nil, nil, Errorf(CodeInvalidArgument, "inputs are not valid JSON: %v", err)
	}
	err = s.schema.Validate(doc)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil, nil, err
	}
	for _, leaf := range leaves(ve) {
		key := strings.Join(leaf.InstanceLocation, ".")
		switch k := leaf.ErrorKind.(type) {
		case *kind.AdditionalProperties:
			for _, p := range k.Properties {
				keys = append(keys, joinKey(key, p))
				problems = append(problems, fmt.Sprintf("unknown input %q", joinKey(key, p)))
			}
			continue
		case *kind.Required:
			if allowMissing && key == "" {
				continue
			}
			for _, p := range k.Missing {
				keys = append(keys, joinKey(key, p))
				problems = append(problems, fmt.Sprintf("missing required input %q", joinKey(key, p)))
			}
			continue
		}
		if key == "" {
			key = "(inputs)"
		}
		keys = append(keys, key)
		problems = append(problems, fmt.Sprintf("input %q: %s", key, leaf.ErrorKind.LocalizedString(printer())))
	}
	slices.Sort(keys)
	slices.Sort(problems)
	return slices.Compact(problems), slices.Compact(keys), nil
}

func joinKey(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func leaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return []*jsonschema.ValidationError{ve}
	}
	var out []*jsonschema.ValidationError
	for _, c := range ve.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// DefaultSchemaCacheBytes is the budget of a SchemaCache made with size 0.
const DefaultSchemaCacheBytes = 16 << 20

// schemaEntryOverhead is charged per cached schema on top of its source
// size, so many small schemas are bounded too.
const schemaEntryOverhead = 4 << 10

// SchemaCache holds compiled input schemas by the SHA-256 of their source,
// so invoking a deployment does not compile its schema again, and schemas
// that fail to compile stay failed without recompiling. It evicts the least
// recently used schemas beyond its byte budget. Safe for concurrent use.
type SchemaCache struct {
	mu       sync.Mutex
	budget   int
	used     int
	entries  map[[sha256.Size]byte]*list.Element
	order    list.List // of *schemaEntry, most recently used first
	compiles int
}

type schemaEntry struct {
	key    [sha256.Size]byte
	cost   int
	schema *InputSchema
	err    error
}

// NewSchemaCache returns a cache holding compiled schemas whose sources
// total about budget bytes; 0 means DefaultSchemaCacheBytes.
func NewSchemaCache(budget int) *SchemaCache {
	if budget <= 0 {
		budget = DefaultSchemaCacheBytes
	}
	return &SchemaCache{budget: budget, entries: map[[sha256.Size]byte]*list.Element{}}
}

// Compile returns the compiled schema, compiling it only if it is not
// cached. Errors: those of CompileInputSchema.
func (c *SchemaCache) Compile(schema json.RawMessage) (*InputSchema, error) {
	key := sha256.Sum256(schema)
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		c.order.MoveToFront(el)
		e := el.Value.(*schemaEntry)
		c.mu.Unlock()
		return e.schema, e.err
	}
	c.compiles++
	c.mu.Unlock()

	sch, err := CompileInputSchema(schema)
	e := &schemaEntry{key: key, cost: len(schema) + schemaEntryOverhead, schema: sch, err: err}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && e.cost <= c.budget {
		c.entries[key] = c.order.PushFront(e)
		c.used += e.cost
		for c.used > c.budget {
			last := c.order.Back()
			old := c.order.Remove(last).(*schemaEntry)
			delete(c.entries, old.key)
			c.used -= old.cost
		}
	}
	return sch, err
}

// Compiles reports how many schemas the cache has compiled (its misses).
func (c *SchemaCache) Compiles() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.compiles
}

// Len reports how many compiled schemas the cache holds.
func (c *SchemaCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// clipLong keeps a library's message quoted back readable.
func clipLong(s string) string {
	const max = 1000
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// MaxSchemaEvaluations bounds how many times a compiled input schema may
// apply (sub)schemas to any one place in the inputs. Refs let a 1 KiB schema
// apply 2^30 subschemas to one value (anyOf of two refs to the next of 30
// definitions), which the validator would grind through on every invoke.
const MaxSchemaEvaluations = 1000

// errSchemaLoop marks a schema that applies itself to the same value
// without descending into it, which no validation could finish.
var errSchemaLoop = errors.New("loop")

// schemaCost computes, for a compiled schema applied to a value, an upper
// bound on the subschema evaluations at one place depth levels inside that
// value: refs, allOf/anyOf/oneOf/not/if/then/else and dependent schemas
// apply to the same value; properties, items and the like to children, of
// which only the most expensive child is counted. Values saturate above
// MaxSchemaEvaluations.
type schemaCost struct {
	memo       map[schemaAt]int
	inProgress map[schemaAt]bool
}

type schemaAt struct {
	s     *jsonschema.Schema
	depth int
}

func (c *schemaCost) at(s *jsonschema.Schema, depth int) (int, error) {
	if s == nil {
		return 0, nil
	}
	key := schemaAt{s, depth}
	if n, ok := c.memo[key]; ok {
		return n, nil
	}
	if c.inProgress[key] {
		return 0, errSchemaLoop
	}
	c.inProgress[key] = true
	defer delete(c.inProgress, key)

	total := 0
	if depth == 0 {
		total = 1
	}
	add := func(n int) { total = min(total+n, MaxSchemaEvaluations+1) }
	for _, same := range sameValue(s) {
		n, err := c.at(same, depth)
		if err != nil {
			return 0, err
		}
		add(n)
	}
	if depth > 0 {
		named, wildcard := children(s)
		base := 0
		for _, w := range wildcard {
			n, err := c.at(w, depth-1)
			if err != nil {
				return 0, err
			}
			base = min(base+n, MaxSchemaEvaluations+1)
		}
		worst := base
		for _, group := range named {
			sum := base
			for _, t := range group {
				n, err := c.at(t, depth-1)
				if err != nil {
					return 0, err
				}
				sum = min(sum+n, MaxSchemaEvaluations+1)
			}
			worst = max(worst, sum)
		}
		add(worst)
	}
	c.memo[key] = total
	return total, nil
}

// sameValue lists the subschemas s applies to the value it is applied to.
func sameValue(s *jsonschema.Schema) []*jsonschema.Schema {
	out := []*jsonschema.Schema{s.Ref, s.RecursiveRef, s.Not, s.If, s.Then, s.Else}
	if s.DynamicRef != nil {
		out = append(out, s.DynamicRef.Ref)
	}
	out = append(out, s.AllOf...)
	out = append(out, s.AnyOf...)
	out = append(out, s.OneOf...)
	for _, d := range s.DependentSchemas {
		out = append(out, d)
	}
	for _, d := range s.Dependencies {
		if d, ok := d.(*jsonschema.Schema); ok {
			out = append(out, d)
		}
	}
	return out
}

// children lists the subschemas s applies to the children of its value:
// by property name or array index (named), or to any child (wildcard).
func children(s *jsonschema.Schema) (named map[string][]*jsonschema.Schema, wildcard []*jsonschema.Schema) {
	named = map[string][]*jsonschema.Schema{}
	for name, p := range s.Properties {
		named["p"+name] = append(named["p"+name], p)
	}
	for i, p := range s.PrefixItems {
		named["i"+strconv.Itoa(i)] = append(named["i"+strconv.Itoa(i)], p)
	}
	if items, ok := s.Items.([]*jsonschema.Schema); ok {
		for i, p := range items {
			named["i"+strconv.Itoa(i)] = append(named["i"+strconv.Itoa(i)], p)
		}
	}
	wildcard = []*jsonschema.Schema{s.PropertyNames, s.UnevaluatedProperties, s.Contains, s.Items2020, s.UnevaluatedItems}
	for _, p := range s.PatternProperties {
		wildcard = append(wildcard, p)
	}
	for _, v := range []any{s.AdditionalProperties, s.Items, s.AdditionalItems} {
		if p, ok := v.(*jsonschema.Schema); ok {
			wildcard = append(wildcard, p)
		}
	}
	return named, wildcard
}

// checkSchemaCost refuses a compiled schema that could apply more than
// MaxSchemaEvaluations subschemas to one place in inputs of at most
// MaxJSONDepth levels, or that applies itself to a value without end.
func checkSchemaCost(s *jsonschema.Schema) error {
	c := &schemaCost{memo: map[schemaAt]int{}, inProgress: map[schemaAt]bool{}}
	for depth := 0; depth <= MaxJSONDepth; depth++ {
		n, err := c.at(s, depth)
		if errors.Is(err, errSchemaLoop) {
			return Errorf(CodeInvalidArgument, "input_schema applies a schema to the same value again without descending into it (a $ref loop), so no input could be checked; break the loop")
		}
		if n > MaxSchemaEvaluations {
			return Errorf(CodeInvalidArgument, "input_schema could apply more than %d subschemas to one input value (through $refs inside anyOf/allOf/oneOf); simplify it, e.g. refer to each definition once", MaxSchemaEvaluations)
		}
	}
	return nil
}
