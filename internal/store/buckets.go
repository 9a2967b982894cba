package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strowger/strowger/internal/bus"
)

// Buckets are the JetStream handles every role shares.
type Buckets struct {
	Docs          jetstream.KeyValue
	Index         jetstream.KeyValue
	System        jetstream.KeyValue
	Registrations jetstream.KeyValue
	Nodes         jetstream.KeyValue
	Bans          jetstream.KeyValue
	Calls         jetstream.KeyValue
	CDR           jetstream.Stream
	Media         jetstream.ObjectStore
}

// ProvisionOptions sizes the buckets.
type ProvisionOptions struct {
	// Replicas is 1 on a single node and 3 in a cluster.
	Replicas int
	// MaxMediaBytes caps the media object store (0: unlimited).
	MaxMediaBytes int64
	// CDRMaxAge is how long CDRs are kept in the stream (0: forever).
	CDRMaxAge time.Duration
}

// Provision creates or opens every bucket, stream and object store. It is
// idempotent and safe to run concurrently from several nodes.
func Provision(ctx context.Context, js jetstream.JetStream, o ProvisionOptions) (*Buckets, error) {
	r := o.Replicas
	if r <= 0 {
		r = 1
	}
	var b Buckets
	var err error
	kv := func(cfg jetstream.KeyValueConfig) jetstream.KeyValue {
		if err != nil {
			return nil
		}
		cfg.Replicas = r
		var h jetstream.KeyValue
		h, err = js.CreateOrUpdateKeyValue(ctx, cfg)
		if err != nil {
			err = fmt.Errorf("provisioning bucket %s: %w", cfg.Bucket, err)
		}
		return h
	}
	b.Docs = kv(jetstream.KeyValueConfig{Bucket: BucketDocs, History: 1, Storage: jetstream.FileStorage,
		Description: "tenant configuration documents"})
	b.Index = kv(jetstream.KeyValueConfig{Bucket: BucketIndex, History: 1, Storage: jetstream.FileStorage,
		Description: "uniqueness and lookup indexes"})
	b.System = kv(jetstream.KeyValueConfig{Bucket: BucketSystem, History: 1, Storage: jetstream.FileStorage,
		Description: "cluster-wide settings"})
	b.Registrations = kv(jetstream.KeyValueConfig{Bucket: BucketRegistrations, History: 1,
		Storage: jetstream.MemoryStorage, LimitMarkerTTL: time.Minute, Description: "SIP bindings"})
	b.Nodes = kv(jetstream.KeyValueConfig{Bucket: BucketNodes, History: 1, Storage: jetstream.MemoryStorage,
		LimitMarkerTTL: time.Minute, Description: "node heartbeats"})
	b.Bans = kv(jetstream.KeyValueConfig{Bucket: BucketBans, History: 1, Storage: jetstream.MemoryStorage,
		LimitMarkerTTL: time.Minute, Description: "banned SIP sources"})
	b.Calls = kv(jetstream.KeyValueConfig{Bucket: BucketCalls, History: 1, Storage: jetstream.MemoryStorage,
		LimitMarkerTTL: time.Minute, Description: "call ownership and checkpoints"})
	if err != nil {
		return nil, err
	}
	b.CDR, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamCDR,
		Subjects:    []string{bus.CDRAll},
		Storage:     jetstream.FileStorage,
		Replicas:    r,
		MaxAge:      o.CDRMaxAge,
		Duplicates:  10 * time.Minute,
		Description: "call detail records, one message per leg",
	})
	if err != nil {
		return nil, fmt.Errorf("provisioning stream %s: %w", StreamCDR, err)
	}
	b.Media, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: ObjectMedia, Storage: jetstream.FileStorage, Replicas: r, MaxBytes: o.MaxMediaBytes,
		Description: "media files, voicemail and recordings",
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		b.Media, err = js.ObjectStore(ctx, ObjectMedia)
	}
	if err != nil {
		return nil, fmt.Errorf("provisioning object store %s: %w", ObjectMedia, err)
	}
	return &b, nil
}
