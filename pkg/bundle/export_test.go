package bundle

import "io"

// ResolutionSteps validates a bundle and returns how many path segments
// symlink resolution stepped through, for tests of its cost.
func ResolutionSteps(r io.Reader) (int, error) {
	t, _, err := validate(r, Limits{}, "", nil)
	return t.steps, err
}
