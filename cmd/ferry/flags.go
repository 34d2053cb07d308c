package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// newFlagSet makes a subcommand's flag set whose --help prints header, then
// every flag with its environment variable and default.
func newFlagSet(name string, stderr io.Writer, header string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), header)
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// envName is the environment variable that sets a flag: FERRY_ and the
// flag's name in upper case with dashes as underscores.
func envName(flagName string) string {
	return "FERRY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// envFlags defines flags whose default comes from the environment when set,
// and whose usage names that variable, so --help stays true.
type envFlags struct{ fs *flag.FlagSet }

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
	e.fs.BoolVar(p, name, def, e.usage(name, text))
	e.fromEnv(name)
}

func (e envFlags) Duration(p *time.Duration, name string, def time.Duration, text string) {
	e.fs.DurationVar(p, name, def, e.usage(name, text))
	e.fromEnv(name)
}

func (e envFlags) Int(p *int, name string, def int, text string) {
	e.fs.IntVar(p, name, def, e.usage(name, text))
	e.fromEnv(name)
}

func (e envFlags) Var(v flag.Value, name, text string) {
	e.fs.Var(v, name, e.usage(name, text))
	e.fromEnv(name)
}

// fromEnv applies the environment's value through the flag's own parser, so
// a bad value is reported the same way as on the command line. It happens
// before Parse, so a flag given on the command line still wins.
func (e envFlags) fromEnv(name string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		if err := e.fs.Set(name, v); err != nil {
			fmt.Fprintf(e.fs.Output(), "ignoring %s=%q: %v\n", envName(name), v, err)
		}
	}
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

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

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
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("not a size: %q (want e.g. 1048576, 512MiB, 10GB)", s)
	}
	*b = byteSize(n * mult)
	return nil
}

// secretString is a string flag whose value --help never prints (flag's
// PrintDefaults shows a default only when String differs from the zero's).
type secretString string

func (s *secretString) String() string { return "" }

func (s *secretString) Set(v string) error {
	*s = secretString(v)
	return nil
}
