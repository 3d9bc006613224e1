package trigger

import (
	"context"
	"encoding/json"
)

// Platform is what a platform adapter gives the [Handler]: how it reads its
// events (each with the Reply of its shape).
type Platform struct {
	// Decode tells a payload's kind by its shape and makes its event, with
	// the Reply the platform expects for it.
	Decode func(payload []byte) Event
}

// Handler runs a platform's invocations: decode → run → reply. It
// implements both platforms' raw handler interfaces (lambda.Handler,
// scf-go-lib's cloudfunction.Handler), which hand it the raw payload, so that
// even a payload that is not JSON gets an answer saying what arrived.
type Handler struct {
	// Platform reads the events.
	Platform Platform
	// Dispatcher runs the events.
	Dispatcher *Dispatcher
}

// Invoke handles one invocation: the event's Reply (default: the job.Result)
// shapes the answer. Its error is non-nil only where a platform retry can
// help; events it cannot handle get a report saying what arrived.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	ev := h.Platform.Decode(payload)
	reply := ev.Reply
	if reply == nil {
		reply = ResultReply
	}
	answer, err := reply(h.Dispatcher.Run(ctx, ev))
	if err != nil {
		return nil, err
	}
	return json.Marshal(answer)
}
