package apitypes

// VerifyRequest is the body of POST /v1/config/verify: a whole desired
// configuration, the value of every key under /resources/ and /groups/
// (a shell's staged session); other keys are not looked at.
type VerifyRequest struct {
	Docs map[string]string `json:"docs"`
	// Only, when set, checks just these keys' values, each alone (parse,
	// agents and parameters), without the whole-configuration checks:
	// one staged step, checked as a live write would be.
	Only []string `json:"only,omitempty"`
}

// VerifyResult answers POST /v1/config/verify: every problem (a commit
// of this configuration would be refused or would not run) and warning.
type VerifyResult struct {
	OK       bool     `json:"ok"`
	Problems []string `json:"problems"`
	Warnings []string `json:"warnings"`
}
