package edge

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strowger/strowger/internal/sipauth"
)

// BenchmarkRegisterDigest measures full digest registrations (REGISTER →
// 401 → REGISTER with credentials → 200, one KV write each) over loopback
// UDP with 32 concurrent user agents; reports registrations/s.
func BenchmarkRegisterDigest(b *testing.B) {
	en := newEnv(b, func(c *Config) { c.SourceRate = 1e9; c.SourceBurst = 1 << 30 })
	const users = 2000
	for i := range users {
		en.dir.add(testRealm, fmt.Sprintf("u%05d", i), fmt.Sprintf("pw%05d", i))
	}
	const workers = 32
	uas := make([]*ua, workers)
	for i := range uas {
		uas[i] = en.udpUA()
	}
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func(u *ua) {
			defer wg.Done()
			for {
				n := int(next.Add(1)) - 1
				if n >= b.N {
					return
				}
				user := fmt.Sprintf("u%05d", n%users)
				callID := fmt.Sprintf("bench-%d", n)
				u.send(u.register(regOpts{user: user, callID: callID, cseq: 1}))
				r := u.resp()
				h, err := sipauth.Authorization(r.GetHeader("WWW-Authenticate").Value(), "REGISTER",
					"sip:"+testRealm, user, fmt.Sprintf("pw%05d", n%users), "cn", 1)
				if err != nil {
					b.Error(err)
					return
				}
				u.send(u.register(regOpts{user: user, callID: callID, cseq: 2, auth: h,
					contacts: []string{"<sip:" + user + "@" + u.addr + ">"}, expires: "3600"}))
				if r := u.resp(); r.StatusCode != 200 {
					b.Errorf("%s: %d", user, r.StatusCode)
					return
				}
			}
		}(uas[w])
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "reg/s")
}
