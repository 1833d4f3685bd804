package apitypes

// VerifyRequest is the body of POST /v1/config/verify: a whole desired
// configuration, the value of every key under /resources/ and /groups/
// (a shell's staged session); other keys are not looked at.
type VerifyRequest struct {
	Docs map[string]string `json:"docs"`
}

// VerifyResult answers POST /v1/config/verify: every problem (a commit
// of this configuration would be refused or would not run) and warning.
type VerifyResult struct {
	OK       bool     `json:"ok"`
	Problems []string `json:"problems"`
	Warnings []string `json:"warnings"`
}
