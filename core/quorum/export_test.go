package quorum

// Valid is valid, for the tests of package quorum_test.
func Valid(c Config) bool { return c.valid() }
