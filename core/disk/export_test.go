package disk

// SetTestMutation breaks one protocol rule for the rest of a test (see
// testMutation in disk.go); call the returned function to restore.
func SetTestMutation(m string) func() {
	old := testMutation
	testMutation = m
	return func() { testMutation = old }
}
