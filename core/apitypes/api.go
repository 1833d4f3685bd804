package apitypes

// Error is the body of every error response.
type Error struct {
	Error string `json:"error"`
	Hint  string `json:"hint,omitempty"`
}
