package shell

import (
	"context"
	"fmt"
	"strings"
)

func verifyCommand() *command {
	return &command{
		name:    "verify",
		usage:   "verify [--json]",
		summary: "check the staged configuration whole, without writing it",
		help: "The node checks the stage's resources and groups as one configuration: each value\n" +
			"parses, agents exist and parameters match their meta() (`agents resource`), every\n" +
			"resource's group exists and every group's resources exist, `after` dependencies\n" +
			"name groups that exist and form no cycle, preferred and possible owners are\n" +
			"configured nodes, and fence levels (or watchdog mode) cover every node. It fails\n" +
			"(exit 1) when there is a problem; commit runs it first.",
		example: "verify\nverify --json",
		run:     runVerify,
	}
}

func runVerify(ctx context.Context, s *Shell, a *args) error {
	if err := a.noArgs(); err != nil {
		return err
	}
	st := s.stage
	if st == nil {
		return errNoStage("verify")
	}
	res, err := verifyStage(ctx, s, st)
	if err != nil {
		return err
	}
	if s.json {
		if err := WriteJSON(s.Stdout, res); err != nil {
			return err
		}
	} else {
		var b strings.Builder
		if res.OK {
			b.WriteString("the staged configuration is valid")
		} else {
			fmt.Fprintf(&b, "the staged configuration has %d problem(s):", len(res.Problems))
			for _, p := range res.Problems {
				b.WriteString("\n- " + p)
			}
		}
		for _, w := range res.Warnings {
			b.WriteString("\nwarning: " + w)
		}
		if err := writeLine(s, b.String()); err != nil {
			return err
		}
	}
	if !res.OK {
		return fmt.Errorf("%d problem(s): commit would refuse the stage; fix them in the stage or abort", len(res.Problems))
	}
	return nil
}
