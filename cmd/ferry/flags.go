package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// flagSet is a subcommand's flags. Its Parse also fails on an environment
// variable that did not parse, so that a bad FERRY_* value stops the
// command as a bad flag does instead of being passed over.
type flagSet struct {
	*flag.FlagSet
	envErrs []error // one per bad environment value, in definition order
}

// flagParser is a *flagSet or a plain *flag.FlagSet, for parseInterspersed.
type flagParser interface {
	Parse(args []string) error
	Args() []string
}

// newFlagSet makes a subcommand's flag set whose --help prints header, then
// every flag with its type, environment variable and default.
func newFlagSet(name string, stderr io.Writer, header string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError)}
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), header)
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.printDefaults()
	}
	return fs
}

// Parse parses args as flag.FlagSet's Parse does (so --help and a bad flag
// are answered first), then reports the bad environment values: an error
// naming each variable and what is wrong with its value.
func (f *flagSet) Parse(args []string) error {
	if err := f.FlagSet.Parse(args); err != nil {
		return err
	}
	if len(f.envErrs) > 0 {
		return fmt.Errorf("%s: %w", f.Name(), errors.Join(f.envErrs...))
	}
	return nil
}

// printDefaults is flag's PrintDefaults with the type names of ferry's own
// values (size, duration, int) where flag would print "value".
func (f *flagSet) printDefaults() {
	f.VisitAll(func(fl *flag.Flag) {
		kind, usage := flag.UnquoteUsage(fl)
		if k, ok := fl.Value.(interface{ kind() string }); ok {
			kind = k.kind()
		}
		line := "  -" + fl.Name
		if kind != "" {
			line += " " + kind
		}
		line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
		switch fl.DefValue {
		case "", "0", "0s", "false":
		default:
			if kind == "string" {
				line += fmt.Sprintf(" (default %q)", fl.DefValue)
			} else {
				line += fmt.Sprintf(" (default %s)", fl.DefValue)
			}
		}
		fmt.Fprintln(f.Output(), line)
	})
}

// envName is the environment variable that sets a flag: FERRY_ and the
// flag's name in upper case with dashes as underscores.
func envName(flagName string) string {
	return "FERRY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// envFlags defines flags whose default comes from the environment when set,
// and whose usage names that variable, so --help stays true. Sizes,
// durations and counts refuse negative values (notNegative), whether they
// come from a flag or the environment.
type envFlags struct{ fs *flagSet }

func (e envFlags) usage(name, text string) string {
	return fmt.Sprintf("%s (env %s)", text, envName(name))
}

func (e envFlags) String(p *string, name, def, text string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		def = v
	}
	e.fs.StringVar(p, name, def, e.usage(name, text))
}

// Secret is String for values --help must not show: its default (from the
// environment) is not printed.
func (e envFlags) Secret(p *string, name, text string) {
	e.Var((*secretString)(p), name, text)
}

func (e envFlags) Bool(p *bool, name string, def bool, text string) {
	*p = def
	e.Var((*boolean)(p), name, text)
}

// Duration defines a duration flag; a negative one is refused.
func (e envFlags) Duration(p *time.Duration, name string, def time.Duration, text string) {
	*p = def
	e.Var((*duration)(p), name, text)
}

// Int defines a count flag; a negative one is refused.
func (e envFlags) Int(p *int, name string, def int, text string) {
	*p = def
	e.Var((*count)(p), name, text)
}

func (e envFlags) Var(v flag.Value, name, text string) {
	e.fs.Var(v, name, e.usage(name, text))
	e.fromEnv(name)
}

// fromEnv applies the environment's value through the flag's own parser, so
// a bad value is refused as on the command line; Parse reports it. It
// happens before Parse, so a flag given on the command line still wins.
func (e envFlags) fromEnv(name string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		if err := e.fs.Set(name, v); err != nil {
			// The shape of flag's own "invalid value %q for flag -%s: %v".
			e.fs.envErrs = append(e.fs.envErrs, fmt.Errorf("invalid value %q for %s: %v", v, envName(name), err))
		}
	}
}

// errNegative is what every size, duration and count flag says to a
// negative value: none of them has a use for one, and a negative value is
// not read as "off" or "the default" anywhere.
var errNegative = errors.New("must not be negative")

// notNegative is the one check of sign that every size, duration and count
// value makes when it is set, from a flag or the environment.
func notNegative[T ~int | ~int64](v T) error {
	if v < 0 {
		return errNegative
	}
	return nil
}

// duration is a flag value for durations (time.ParseDuration's syntax) that
// refuses negative ones.
type duration time.Duration

func (d *duration) String() string { return time.Duration(*d).String() }
func (d *duration) kind() string   { return "duration" }

func (d *duration) Set(s string) error {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return errors.New("not a duration (want e.g. 90s, 10m, 24h)")
	}
	if err := notNegative(v); err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

// boolean is a flag value for switches: --name alone sets it, and
// --name=false or FERRY_NAME=false clears it.
type boolean bool

func (b *boolean) String() string   { return strconv.FormatBool(bool(*b)) }
func (b *boolean) IsBoolFlag() bool { return true }

func (b *boolean) Set(s string) error {
	v, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return errors.New("not a boolean (want true or false)")
	}
	*b = boolean(v)
	return nil
}

// count is a flag value for whole numbers of things that refuses negative ones.
type count int

func (c *count) String() string { return strconv.Itoa(int(*c)) }
func (c *count) kind() string   { return "int" }

func (c *count) Set(s string) error {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return errors.New("not a whole number")
	}
	if err := notNegative(v); err != nil {
		return err
	}
	*c = count(v)
	return nil
}

// byteSize is a flag value for sizes: a byte count with an optional unit
// (KB, MB, GB, TB in powers of 1000; KiB, MiB, GiB, TiB in powers of 1024).
type byteSize int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// String writes the size in the largest binary unit that divides it, so
// --help shows 1MiB, not 1048576.
func (b *byteSize) String() string {
	n := int64(*b)
	for i := 3; i >= 0 && n != 0; i-- {
		if u := sizeUnits[i]; n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (b *byteSize) kind() string { return "size" }

func (b *byteSize) Set(s string) error {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if len(s) > len(u.suffix) && strings.EqualFold(s[len(s)-len(u.suffix):], u.suffix) {
			s, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return errors.New("not a size (want e.g. 1048576, 512MiB, 10GB)")
	}
	if err := notNegative(n); err != nil {
		return err
	}
	if n > (1<<62)/mult {
		return errors.New("too large (want at most 4EiB)")
	}
	*b = byteSize(n * mult)
	return nil
}

// secretString is a string flag whose value --help never prints (flag's
// PrintDefaults shows a default only when String differs from the zero's).
type secretString string

func (s *secretString) String() string { return "" }
func (s *secretString) kind() string   { return "string" }

func (s *secretString) Set(v string) error {
	*s = secretString(v)
	return nil
}
