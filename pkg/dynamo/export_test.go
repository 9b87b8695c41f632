package dynamo

// LimitLiveTags lowers the store's cap on a flow's routed tags, so the
// conformance suite can reach it quickly (Engine.LimitTags).
func (s *Store) LimitLiveTags(n int) { s.maxLiveTags = n }

// IsStaleDocumentPath is isStaleDocumentPath, for the test that pins the
// engines' refusal text.
var IsStaleDocumentPath = isStaleDocumentPath

// ItemSize is itemSize, for tests that measure items.
var ItemSize = itemSize
