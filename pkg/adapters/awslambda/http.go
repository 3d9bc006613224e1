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
	Query    trigger.Query   `json:"queryStringParameters"`
	Body     trigger.Text    `json:"body"`
	IsBase64 bool            `json:"isBase64Encoded"`
}

// decodeV2 reads an HTTP API (payload format 2.0) or function URL request.
func decodeV2(payload []byte) trigger.Event {
	var req v2Request
	err := json.Unmarshal(payload, &req)
	name := eventHTTPAPI
	if err == nil && strings.Contains(req.RequestContext.DomainName, ".lambda-url.") {
		name = eventFunctionURL // function URLs use payload format 2.0
	}
	return trigger.HTTPEvent(name, trigger.HTTPShape(v2Reply), "an HTTP API request", trigger.GatewayRequest{
		Method: req.RequestContext.HTTP.Method, Headers: req.Headers, Query: req.Query, Body: req.Body, IsBase64: req.IsBase64,
	}, err, payload)
}

// v1Request is what the function reads of a REST API (or HTTP API payload
// format 1.0) request (the shape of events.APIGatewayProxyRequest).
type v1Request struct {
	Method            string          `json:"httpMethod"`
	Headers           trigger.Headers `json:"headers"`
	MultiValueHeaders trigger.Headers `json:"multiValueHeaders"`
	Query             trigger.Query   `json:"queryStringParameters"`
	MultiValueQuery   trigger.Query   `json:"multiValueQueryStringParameters"`
	Body              trigger.Text    `json:"body"`
	IsBase64          bool            `json:"isBase64Encoded"`
}

// decodeV1 reads a REST API (or HTTP API payload format 1.0) request.
func decodeV1(payload []byte) trigger.Event {
	var req v1Request
	err := json.Unmarshal(payload, &req)
	return trigger.HTTPEvent(eventRESTAPI, trigger.HTTPShape(v1Reply), "a REST API request", trigger.GatewayRequest{
		Method: req.Method, Headers: req.Headers.With(req.MultiValueHeaders), Query: req.Query.With(req.MultiValueQuery),
		Body: req.Body, IsBase64: req.IsBase64,
	}, err, payload)
}

// v2Reply is the response of an HTTP API (payload format 2.0) or a function URL.
func v2Reply(r trigger.HTTPReply) any {
	return events.APIGatewayV2HTTPResponse{StatusCode: r.StatusCode, Headers: r.Headers, Body: r.Body}
}

// v1Reply is the response of a REST API (or HTTP API payload format 1.0).
func v1Reply(r trigger.HTTPReply) any {
	return events.APIGatewayProxyResponse{StatusCode: r.StatusCode, Headers: r.Headers, Body: r.Body}
}
