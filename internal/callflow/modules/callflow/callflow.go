// Package callflow is the "callflow" callflow module: continue the call in
// another callflow document of the same account.
//
// It imports only internal/callflow and internal/validation; it is composed
// into the binary by modules/all.
package callflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	cf "github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/validation"
)

// Name is the module's name in a flow node.
const Name = "callflow"

// Config is the node's data.
type Config struct {
	// ID is the callflow document to branch to.
	ID string `json:"id" callflow:"required"`
}

// Refs names the target callflow.
func (c *Config) Refs() []cf.Ref {
	return []cf.Ref{{Type: cf.RefCallflow, ID: c.ID, Field: "id"}}
}

type module struct{}

func init() { cf.Register(module{}) }

var _ cf.Executor = module{}

func (module) Name() string { return Name }

func (module) Decode(data json.RawMessage) (cf.Config, validation.Errors) {
	c := &Config{}
	if errs := cf.DecodeData(data, c); !errs.Empty() {
		return nil, errs
	}
	errs := validation.Errors{}
	cf.CheckDocID(errs, "id", c.ID)
	if !errs.Empty() {
		return nil, errs
	}
	return c, nil
}

// Exec loads the target callflow of the call's account and jumps to its
// flow. A target that no longer exists (or belongs to another account)
// takes "_", as in Kazoo.
func (module) Exec(ctx context.Context, call cf.Call, cfg cf.Config) (cf.Result, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return cf.Result{}, fmt.Errorf("callflow: config is %T", cfg)
	}
	root, err := call.Callflow(ctx, c.ID)
	if errors.Is(err, cf.ErrNotFound) {
		call.Log().Warn("callflow to branch to not found", "callflow_id", c.ID)
		return cf.Result{Branch: cf.DefaultChild}, nil
	}
	if err != nil {
		return cf.Result{}, fmt.Errorf("loading callflow %s: %w", c.ID, err)
	}
	return cf.Result{Jump: root, JumpID: c.ID}, nil
}
