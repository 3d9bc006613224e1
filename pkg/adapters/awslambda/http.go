package awslambda

import (
	"encoding/json"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/removetag/removetag/pkg/adapters/trigger"
)

// hasHTTPContext reports whether requestContext has the "http" object of
// payload format 2.0.
func hasHTTPContext(p *trigger.Probe) bool {
	var rc struct {
		HTTP json.RawMessage `json:"http"`
	}
	return json.Unmarshal(p.Fields["requestContext"], &rc) == nil && len(rc.HTTP) > 0 && string(rc.HTTP) != "null"
}

// v2Request is what the function reads of an HTTP API (payload format 2.0)
// or function URL request (the shape of events.APIGatewayV2HTTPRequest).
type v2Request struct {
	RequestContext struct {
		DomainName string `json:"domainName"`
		HTTP       struct {
			Method string `json:"method"`
		} `json:"http"`
	} `json:"requestContext"`
	Headers  trigger.Headers `json:"headers"`
	Body     trigger.Text    `json:"body"`
	IsBase64 bool            `json:"isBase64Encoded"`
}

// decodeV2 reads an HTTP API (payload format 2.0) or function URL request.
func decodeV2(payload []byte) trigger.Event {
	var req v2Request
	if err := json.Unmarshal(payload, &req); err != nil {
		return unreadable(eventHTTPAPI, trigger.ReplyAPIGatewayV2, "an HTTP API request", err, payload)
	}
	name, reply := eventHTTPAPI, trigger.ReplyAPIGatewayV2
	if strings.Contains(req.RequestContext.DomainName, ".lambda-url.") {
		name, reply = eventFunctionURL, trigger.ReplyFunctionURL
	}
	body, err := trigger.DecodeBody(string(req.Body), req.IsBase64)
	if err != nil {
		return unreadable(name, reply, "an HTTP API request", err, payload)
	}
	return trigger.Event{Kind: trigger.KindHTTP, Reply: reply, Name: name,
		HTTP: trigger.HTTPRequest{Method: req.RequestContext.HTTP.Method, Headers: req.Headers, Body: body}}
}

// v1Request is what the function reads of a REST API (or HTTP API payload
// format 1.0) request (the shape of events.APIGatewayProxyRequest).
type v1Request struct {
	Method            string          `json:"httpMethod"`
	Headers           trigger.Headers `json:"headers"`
	MultiValueHeaders trigger.Headers `json:"multiValueHeaders"`
	Body              trigger.Text    `json:"body"`
	IsBase64          bool            `json:"isBase64Encoded"`
}

// decodeV1 reads a REST API (or HTTP API payload format 1.0) request.
func decodeV1(payload []byte) trigger.Event {
	var req v1Request
	if err := json.Unmarshal(payload, &req); err != nil {
		return unreadable(eventRESTAPI, trigger.ReplyAPIGateway, "a REST API request", err, payload)
	}
	body, err := trigger.DecodeBody(string(req.Body), req.IsBase64)
	if err != nil {
		return unreadable(eventRESTAPI, trigger.ReplyAPIGateway, "a REST API request", err, payload)
	}
	return trigger.Event{Kind: trigger.KindHTTP, Reply: trigger.ReplyAPIGateway, Name: eventRESTAPI,
		HTTP: trigger.HTTPRequest{Method: req.Method, Headers: req.Headers.With(req.MultiValueHeaders), Body: body}}
}

// unreadable is the event of an HTTP request that cannot be read: answered
// 400 in the trigger's reply shape.
func unreadable(name string, reply trigger.ReplyKind, what string, err error, payload []byte) trigger.Event {
	ev := trigger.Unknown(name, what+" that cannot be read ("+err.Error()+")", payload)
	ev.Reply = reply
	return ev
}

// v2Reply is the response of an HTTP API (payload format 2.0) or a function URL.
func v2Reply(r trigger.HTTPReply) any {
	return events.APIGatewayV2HTTPResponse{StatusCode: r.StatusCode, Headers: r.Headers, Body: r.Body}
}

// v1Reply is the response of a REST API (or HTTP API payload format 1.0).
func v1Reply(r trigger.HTTPReply) any {
	return events.APIGatewayProxyResponse{StatusCode: r.StatusCode, Headers: r.Headers, Body: r.Body}
}
