package crm

import (
	"fmt"
	"slices"
	"strings"
)

// Check checks a whole desired configuration for what no single value
// shows (ParseResource and ParseGroup check each value; the node checks
// agents and parameters against meta()): every resource's group exists
// and every resource a group lists exists and names that group; every
// group a group starts after exists, and the dependencies form no cycle;
// every preferred or possible owner is a configured node (nodes). It
// returns the problems sorted by key, each naming the key; none: nil.
func Check(resources map[string]Resource, groups map[string]Group, nodes []string) []error {
	var errs []error
	for _, name := range sortedKeys(resources) {
		r := resources[name]
		if _, ok := groups[r.Group]; !ok {
			errs = append(errs, fmt.Errorf("%s%s: group %s does not exist: add it (group add %s) or put the resource in another group", ResourcePrefix, name, r.Group, r.Group))
		}
	}
	names := sortedKeys(groups)
	_, cycles := topo(groups, names)
	for _, name := range names {
		g := groups[name]
		key := GroupPrefix + name
		for _, rn := range g.Resources {
			switch r, ok := resources[rn]; {
			case !ok:
				errs = append(errs, fmt.Errorf("%s: resources: %s does not exist", key, rn))
			case r.Group != name:
				errs = append(errs, fmt.Errorf("%s: resources: %s belongs to group %s", key, rn, r.Group))
			}
		}
		for _, a := range g.After {
			if _, ok := groups[a]; !ok {
				errs = append(errs, fmt.Errorf("%s: after: group %s does not exist", key, a))
			}
		}
		if c, ok := cycles[name]; ok {
			errs = append(errs, fmt.Errorf("%s: after: dependency cycle %s", key, c))
		}
		for field, list := range map[string][]string{"preferred": g.Preferred, "possible": g.Possible} {
			var unknown []string
			for _, n := range list {
				if !slices.Contains(nodes, n) {
					unknown = append(unknown, n)
				}
			}
			if len(unknown) > 0 {
				errs = append(errs, fmt.Errorf("%s: %s: %s not a configured node (nodes: %s)", key, field, strings.Join(unknown, ", "), strings.Join(nodes, ", ")))
			}
		}
	}
	slices.SortStableFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errs
}
