package emulator

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"sync"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"
)

// maxCachedSigs bounds the signature cache; when full, it is emptied.
const maxCachedSigs = 1024

// sigCache remembers the UserSigs verified so far, so that a call with a known
// signature costs a map lookup instead of base64, zlib and an HMAC.
type sigCache struct {
	mu sync.RWMutex
	m  map[string]sigEntry // by UserSig
}

// sigEntry is a verified UserSig.
type sigEntry struct {
	identifier string
	expires    int64 // Unix second after which the signature is expired
}

func (c *sigCache) get(sig string) (sigEntry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.m[sig]
	return e, ok
}

// reset forgets every verified UserSig (the key changed).
func (c *sigCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
}

func (c *sigCache) put(sig string, e sigEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedSigs {
		c.m = make(map[string]sigEntry)
	}
	c.m[sig] = e
}

// sigDoc is the part of a decoded UserSig the emulator reads.
type sigDoc struct {
	Identifier string `json:"TLS.identifier"`
	SDKAppID   uint64 `json:"TLS.sdkappid"`
	Expire     int64  `json:"TLS.expire"`
	Time       int64  `json:"TLS.time"`
}

// decodeSig decodes a UserSig: base64 with '*', '-' and '_' for '+', '/' and '=',
// of zlib-compressed JSON.
func decodeSig(sig string) (sigDoc, error) {
	enc := base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-").WithPadding('_')
	b, err := enc.DecodeString(sig)
	if err != nil {
		return sigDoc{}, err
	}
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return sigDoc{}, err
	}
	data, err := io.ReadAll(io.LimitReader(zr, 64<<10))
	if err != nil {
		return sigDoc{}, err
	}
	var doc sigDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return sigDoc{}, err
	}
	return doc, nil
}

// verifySig checks the UserSig of identifier against the configured SDKAppID and
// key at Config.Now. Expiry is judged before the HMAC, as tencentyun.VerifyUserSig does.
func (s *Server) verifySig(identifier, sig string) answer {
	now := s.cfg.Now()
	if e, ok := s.sigs.get(sig); ok && e.identifier == identifier {
		if now.Unix() > e.expires {
			return fail(CodeSigExpired, "UserSig expired")
		}
		return answer{}
	}
	doc, err := decodeSig(sig)
	switch {
	case err != nil:
		return fail(codeSigInvalid, "UserSig is invalid: cannot decode it")
	case doc.SDKAppID != uint64(s.cfg.SDKAppID):
		return fail(codeSigAppID, "sdkappid does not match the UserSig")
	case doc.Identifier != identifier:
		return fail(codeSigIdentifier, "identifier does not match the UserSig")
	}
	err = tencentyun.VerifyUserSig(uint64(s.cfg.SDKAppID), s.Key(), identifier, sig, now)
	switch {
	case err == nil:
		s.sigs.put(sig, sigEntry{identifier: identifier, expires: doc.Time + doc.Expire})
		return answer{}
	case errors.Is(err, tencentyun.ErrExpired):
		return fail(CodeSigExpired, "UserSig expired")
	case errors.Is(err, tencentyun.ErrSigNotMatch):
		return fail(codeSigWrongKey, "UserSig does not verify with the app's key")
	}
	return fail(codeSigInvalid, "UserSig is invalid: %v", err)
}
