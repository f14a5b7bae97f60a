package cli

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"medzoo/internal/envconfig"
)

// envCommand is `zoo env`: every environment variable zoo reads, with the
// value in effect and where it comes from. It reads no catalog and starts
// no LibTorch, so it answers even where those are what is broken.
func envCommand() *cli.Command {
	var help strings.Builder
	help.WriteString("Lists every environment variable zoo reads with the value in effect and its source: the\n" +
		"environment, the default, or the global flag that overrides it (zoo --cache DIR env).\n" +
		"A variable set to a value zoo cannot use is shown with the problem, and zoo env then exits 1.\n\nVariables:\n")
	for _, v := range envconfig.Vars() {
		fmt.Fprintf(&help, "   %-18s %s\n", v.Name, v.Usage)
	}
	return &cli.Command{
		Name:        "env",
		Usage:       "show the environment variables zoo reads, their values and sources",
		UsageText:   "zoo env [--json]",
		Description: strings.TrimRight(help.String(), "\n"),
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON: one object per variable"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("env takes no arguments, got %v", c.Args().Slice())
			}
			settings := envconfig.Settings(globalFlagOverrides(c)...)
			if c.Bool("json") {
				if err := printJSON(c.App.Writer, settings); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tVALUE\tSOURCE")
				for _, s := range settings {
					value := s.Value
					if value == "" {
						value = "-"
					}
					source := s.Source
					if s.Error != "" {
						source += " (not usable: see below)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, value, source)
				}
				tw.Flush()
			}
			var problems []error
			for _, s := range settings {
				if s.Error != "" {
					problems = append(problems, errors.New(s.Error))
				}
			}
			return errors.Join(problems...)
		},
	}
}

// globalFlagOverrides are the global flags that take the place of a
// variable, read as newStore and catalogOptions read them.
func globalFlagOverrides(c *cli.Context) []envconfig.Override {
	var over []envconfig.Override
	if d := c.String("cache"); d != "" {
		over = append(over, envconfig.Override{Name: envconfig.EnvCache, Flag: "--cache", Values: []string{d}})
	}
	if c.Bool("offline") {
		over = append(over, envconfig.Override{Name: envconfig.EnvOffline, Flag: "--offline", Values: []string{"on"}})
	}
	var catalogs []string
	for _, p := range c.StringSlice("catalog") {
		if strings.TrimSpace(p) != "" {
			catalogs = append(catalogs, p)
		}
	}
	if len(catalogs) > 0 {
		over = append(over, envconfig.Override{Name: envconfig.EnvCatalog, Flag: "--catalog", Values: catalogs})
	}
	return over
}
