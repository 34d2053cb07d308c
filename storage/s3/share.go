package s3

import "github.com/minio/minio-go/v7"

// NewClient returns a minio-go client for cfg's endpoint and credentials,
// made as the Backend makes its own, and cfg checked and normalized as New
// does it (the scheme taken off Endpoint, Prefix ending in "/"). It is for
// packages that keep objects of their own beside the Backend's, in the same
// bucket, under keys the Backend never uses (see the key layout in records.go).
func NewClient(cfg Config) (*minio.Client, Config, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, Config{}, err
	}
	core, err := newCore(cfg, 0)
	if err != nil {
		return nil, Config{}, err
	}
	return core.Client, cfg, nil
}
