package trigger

import (
	"context"
	"encoding/json"
	"fmt"
)

// Platform is what a platform adapter gives the [Handler]: how it reads its
// events, and how it shapes each kind of HTTP reply it makes.
type Platform struct {
	// Decode tells a payload's kind by its shape and makes its event, with the
	// kind of reply the platform expects for it.
	Decode func(payload []byte) Event
	// Replies shape an HTTP answer for each ReplyKind other than ReplyResult
	// that Decode sets; the value is encoded as JSON.
	Replies map[ReplyKind]func(HTTPReply) any
	// Context, if not nil, prepares an invocation's context (SCF: the
	// namespace continuations go to).
	Context func(ctx context.Context) context.Context
}

// Handler runs a platform's invocations: decode → run → reply. It
// implements both platforms' raw handler interfaces (lambda.Handler,
// scf-go-lib's cloudfunction.Handler), which hand it the raw payload, so that
// even a payload that is not JSON gets an answer saying what arrived.
type Handler struct {
	// Platform reads the events and shapes the replies.
	Platform Platform
	// Dispatcher runs the events.
	Dispatcher *Dispatcher
}

// Invoke handles one invocation. Its error is non-nil only where a platform
// retry can help; events it cannot handle get a report saying what arrived.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	if h.Platform.Context != nil {
		ctx = h.Platform.Context(ctx)
	}
	ev := h.Platform.Decode(payload)
	if ev.Reply == ReplyResult {
		res, err := h.Dispatcher.Run(ctx, ev)
		if err != nil {
			return nil, err
		}
		return json.Marshal(res)
	}
	shape, ok := h.Platform.Replies[ev.Reply]
	if !ok { // a mistake in the adapter, not in the event
		return nil, fmt.Errorf("trigger: event %s wants a reply of kind %s, which the platform does not shape", ev.Name, ev.Reply)
	}
	return json.Marshal(shape(h.Dispatcher.HTTP(ctx, ev).encode()))
}
