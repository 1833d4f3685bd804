package dlm

import "fmt"

// validateLock checks a lock or conversion request's arguments.
func validateLock(r Request) error {
	if len(r.Name) > MaxName {
		return fmt.Errorf("resource name of %d bytes (at most %d): %w", len(r.Name), MaxName, ErrInvalid)
	}
	if r.Mode < NL || r.Mode > EX {
		return fmt.Errorf("mode %d: %w", r.Mode, ErrInvalid)
	}
	return nil
}

// validateUnlock checks an unlock's flags.
func validateUnlock(flags Flags) error { return nil }
