//go:build !windows

package hooks

import "os"

// syncDir makes the entries renamed into dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
