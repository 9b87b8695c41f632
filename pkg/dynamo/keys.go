package dynamo

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/registry"
)

// Sort keys within a flow's partition.
const (
	skHead          = "FLOW"
	skVersionPrefix = "V#"
	skHistoryPrefix = "H#"
	skFlowPrefix    = "F#"
	// tagsAttr is the head's map attribute of tag routes, one entry per tag
	// (nested, so a freed entry can be removed: minidyn ignores top-level REMOVE).
	tagsAttr = "tags"
	// layoutAttr is the head's layout version (see layout.go).
	layoutAttr = "layout"
	// legacyTagPrefix prefixed the top-level head attribute that held one
	// tag's route in layouts before 2 (read and converted, never written).
	legacyTagPrefix = "t:"
)

func flowPK(project, flow string) string { return "P#" + project + "#F#" + flow }
func flowIndexPK(project string) string  { return "P#" + project + "#FLOWS" }
func versionSK(version int) string       { return fmt.Sprintf("%s%010d", skVersionPrefix, version) }
func historyPrefix(tag string) string    { return skHistoryPrefix + tag + "#" }
func historySK(tag string, clock int64) string {
	return fmt.Sprintf("%s%012d", historyPrefix(tag), clock)
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(pk), attrSK: str(sk)}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// pageToken is the opaque next_token: the last key a page returned.
type pageToken map[string]string

// encodeToken turns a LastEvaluatedKey (string attributes only) into next_token.
func encodeToken(last map[string]types.AttributeValue) string {
	if len(last) == 0 {
		return ""
	}
	t := pageToken{}
	for k, v := range last {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			t[k] = s.Value
		}
	}
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken checks next_token and returns the ExclusiveStartKey it stands
// for; pk and skPrefix must match the list being paged, so a token from
// another list (or another project) cannot be replayed here.
func decodeToken(token, pkAttr, pk, skAttr, skPrefix string) (map[string]types.AttributeValue, error) {
	if token == "" {
		return nil, nil
	}
	invalid := registry.InvalidPageToken()
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, invalid
	}
	var t pageToken
	if err := json.Unmarshal(b, &t); err != nil || t[pkAttr] != pk || !strings.HasPrefix(t[skAttr], skPrefix) {
		return nil, invalid
	}
	start := map[string]types.AttributeValue{}
	for k, v := range t {
		start[k] = str(v)
	}
	return start, nil
}
