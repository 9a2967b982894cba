// Package all composes the set of callflow modules built into Strowger: the
// one place a module is added to or removed from the binary. Roles that run
// or validate callflows (api, media) import it for its side effects.
package all

import (
	// Each import registers one module with internal/callflow in its init.
	_ "github.com/strowger/strowger/internal/callflow/modules/answer"
	_ "github.com/strowger/strowger/internal/callflow/modules/callflow"
	_ "github.com/strowger/strowger/internal/callflow/modules/conference"
	_ "github.com/strowger/strowger/internal/callflow/modules/device"
	_ "github.com/strowger/strowger/internal/callflow/modules/group"
	_ "github.com/strowger/strowger/internal/callflow/modules/hangup"
	_ "github.com/strowger/strowger/internal/callflow/modules/menu"
	_ "github.com/strowger/strowger/internal/callflow/modules/play"
	_ "github.com/strowger/strowger/internal/callflow/modules/response"
	_ "github.com/strowger/strowger/internal/callflow/modules/ring_group"
	_ "github.com/strowger/strowger/internal/callflow/modules/temporal_route"
	_ "github.com/strowger/strowger/internal/callflow/modules/user"
	_ "github.com/strowger/strowger/internal/callflow/modules/voicemail"
)
