package registry

import (
	"slices"
	"strings"
)

// Stack is server configuration: where executions of a deployment run.
type Stack struct {
	Name             string `json:"name"`
	RemoteExecutable bool   `json:"remote_executable"`
}

// Stacks is the server's stack catalogue and the default for deploys that name none.
type Stacks struct {
	All     []Stack
	Default string
}

// Choose returns the stack a deploy uses: the named one, else the default.
// A stack the server cannot execute remotely is refused (the seed's guard).
func (s Stacks) Choose(name string) (Stack, error) {
	if name == "" {
		name = s.Default
	}
	i := slices.IndexFunc(s.All, func(st Stack) bool { return st.Name == name })
	if i < 0 {
		return Stack{}, Errorf(CodeInvalidArgument, "stack %q is not configured on this server; use one of: %s", clip(name), strings.Join(s.remoteNames(), ", ")).
			WithDetails("remote_executable_stacks", s.remoteNames())
	}
	if !s.All[i].RemoteExecutable {
		return Stack{}, Errorf(CodeUnprocessable, "stack %q cannot execute deployments remotely, so deploying to it is refused; deploy to a remote-executable stack: %s", name, strings.Join(s.remoteNames(), ", ")).
			WithDetails("remote_executable_stacks", s.remoteNames())
	}
	return s.All[i], nil
}

func (s Stacks) remoteNames() []string {
	var names []string
	for _, st := range s.All {
		if st.RemoteExecutable {
			names = append(names, st.Name)
		}
	}
	return names
}

// ParseStacks reads a stack list like "aws,local:local-only" where a ":local-only"
// suffix marks a stack that is not remote-executable; the first stack is the default
// unless defaultName is set.
func ParseStacks(spec, defaultName string) (Stacks, error) {
	var st Stacks
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, flag, _ := strings.Cut(part, ":")
		switch flag {
		case "", "remote":
			st.All = append(st.All, Stack{Name: name, RemoteExecutable: true})
		case "local-only":
			st.All = append(st.All, Stack{Name: name})
		default:
			return Stacks{}, Errorf(CodeInvalidArgument, "stack %q has unknown flag %q; use name or name:local-only", name, flag)
		}
	}
	if len(st.All) == 0 {
		return Stacks{}, Errorf(CodeInvalidArgument, "no stacks configured; set KITARU_STACKS, e.g. aws,local:local-only")
	}
	st.Default = defaultName
	if st.Default == "" {
		st.Default = st.All[0].Name
	}
	if _, err := st.Choose(st.Default); err != nil {
		return Stacks{}, err
	}
	return st, nil
}
