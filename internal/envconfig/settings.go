package envconfig

import (
	"os"
	"strings"
)

// Where a Setting's value comes from.
const (
	FromEnv     = "environment"
	FromDefault = "default"
)

// Override is a command-line flag given for a variable: its values take the
// variable's place, or for a list follow its entries (as --catalog files
// are read after $ZOO_CATALOG's).
type Override struct {
	Name   string   // the variable
	Flag   string   // the flag as written: "--cache"
	Values []string // the flag's values; none: the flag was not given
}

// Setting is a variable as zoo sees it now.
type Setting struct {
	Var
	Env    string `json:"env,omitempty"`   // the environment's value, when set
	Value  string `json:"value"`           // the value in effect, default applied, as text
	Source string `json:"source"`          // FromEnv, FromDefault, a flag, or "environment and --flag"
	Error  string `json:"error,omitempty"` // why the environment's value cannot be used (unless a flag overrides it)
}

// Settings returns every variable with the value in effect and its source,
// the overrides (command-line flags) applied.
func Settings(overrides ...Override) []Setting {
	out := make([]Setting, 0, len(vars))
	for _, v := range vars {
		s := Setting{Var: v, Env: get(v.Name), Source: FromDefault}
		if s.Env != "" {
			s.Source = FromEnv
			switch { // a token or password must not reach a terminal or a log
			case v.Kind == Secret && v.redact != nil:
				s.Env = v.redact(s.Env)
			case v.Kind == Secret:
				s.Env = hidden
			}
		}
		value, err := v.value()
		s.Value = value
		if err != nil {
			s.Error = err.Error()
			s.Value = s.Env
		}
		for _, o := range overrides {
			if o.Name != v.Name || len(o.Values) == 0 {
				continue
			}
			if v.Kind == List {
				s.Value = strings.Join(append(SplitCatalogList(s.Env), o.Values...), string(os.PathListSeparator))
				if s.Source == FromEnv {
					s.Source = FromEnv + " and " + o.Flag
				} else {
					s.Source = o.Flag
				}
				continue
			}
			// The flag decides, so a bad value in the environment does
			// not matter to this command line.
			s.Value, s.Source, s.Error = o.Values[len(o.Values)-1], o.Flag, ""
		}
		out = append(out, s)
	}
	return out
}

// Markdown returns the table of every variable as the README shows it.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| variable | default | flag | what it does |\n| --- | --- | --- | --- |\n")
	for _, v := range vars {
		flag := ""
		if v.Flag != "" {
			flag = "`" + v.Flag + "`"
		}
		usage := v.Usage
		if v.ReadBy != "" {
			usage = v.ReadBy + "'s variable: " + usage
		}
		b.WriteString("| `" + v.Name + "` | " + v.Default + " | " + flag + " | " + usage + " |\n")
	}
	return b.String()
}
