package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
)

// MaxJSONDepth bounds how deeply inputs and input schemas nest. Python's json
// module gives up near 1000 levels and schema compilation recurses per level;
// real inputs nest a handful.
const MaxJSONDepth = 64

// CheckJSON checks the one JSON value doc for what encoding/json accepts but
// this service refuses: a key twice in one object (Go and Python keep the
// last silently), a number a 64-bit float cannot hold (1e400 becomes inf in
// Python, an error in Go; 1e-400 becomes 0), and nesting deeper than
// maxDepth. what names doc in messages ("inputs", "request body"); refusals
// name the offending key as a dotted path (opts.xs.2). Errors:
// invalid_argument, with details {"key": path}.
func CheckJSON(doc []byte, what string, maxDepth int) error {
	type level struct {
		object bool
		keys   map[string]struct{}
		key    string // the object key whose value comes next or is being read
		index  int    // the array index being read
		atKey  bool   // an object expects a key next
	}
	var stack []*level
	path := func() string {
		parts := make([]string, len(stack))
		for i, l := range stack {
			if l.object {
				parts[i] = l.key
			} else {
				parts[i] = strconv.Itoa(l.index)
			}
		}
		return strings.Join(parts, ".")
	}
	refuse := func(format string, args ...any) error {
		p := path()
		return Errorf(CodeInvalidArgument, format, args...).WithDetails("key", p)
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return Errorf(CodeInvalidArgument, "%s is not valid JSON: %v", what, err)
		}
		var top *level
		if n := len(stack); n > 0 {
			top = stack[n-1]
		}
		switch {
		case top != nil && top.object && top.atKey && tok != json.Delim('}'):
			key, _ := tok.(string)
			top.key, top.atKey = key, false
			if _, dup := top.keys[key]; dup {
				return refuse("duplicate key %q in the %s; send each key once", clip(path()), what)
			}
			top.keys[key] = struct{}{}
			continue
		case tok == json.Delim('{') || tok == json.Delim('['):
			if len(stack) >= maxDepth {
				return refuse("nesting deeper than %d levels at %q in the %s; flatten it", maxDepth, clip(path()), what)
			}
			stack = append(stack, &level{object: tok == json.Delim('{'), keys: map[string]struct{}{}, atKey: true})
			continue // the container's end completes the value
		case tok == json.Delim('}') || tok == json.Delim(']'):
			stack = stack[:len(stack)-1]
		default:
			if n, ok := tok.(json.Number); ok && !representable(string(n)) {
				return refuse("the number %s at %q in the %s cannot be represented faithfully: numbers must fit a 64-bit float (finite, magnitude at most 1.7976931348623157e308, and not so small that they round to 0); send it as a string", clip(string(n)), clip(path()), what)
			}
		}
		if len(stack) == 0 {
			break
		}
		if top = stack[len(stack)-1]; top.object {
			top.atKey = true
		} else {
			top.index++
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Errorf(CodeInvalidArgument, "%s has data after its JSON value; send exactly one value", what)
	}
	return nil
}

// representable reports whether the JSON number n survives as a float64:
// no overflow to infinity and no underflow of a non-zero value to zero.
func representable(n string) bool {
	f, err := strconv.ParseFloat(n, 64)
	if err != nil {
		return false
	}
	if f != 0 {
		return true
	}
	mantissa, _, _ := strings.Cut(strings.ToLower(n), "e")
	return strings.Trim(mantissa, "-0.") == ""
}
