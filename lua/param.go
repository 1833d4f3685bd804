package lua

// Check reports whether value is a valid text for the parameter's type
// (integer, number, boolean, duration or string), with the error a call
// would give ("parameter port: \"x\" is not an integer").
func (p Param) Check(value string) error {
	_, err := convertParam(p, value)
	return err
}
