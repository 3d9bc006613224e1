package scf

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/tencentyun/scf-go-lib/events"

	"github.com/removetag/removetag/pkg/adapters/trigger"
)

// gatewayMargin is kept back from the API gateway's wait (endpoint-timeout),
// for the answer to reach it.
const gatewayMargin = 2 * time.Second

// httpRequest is what the function reads of an HTTP event. The function URL
// sends the API gateway's protocol without headerParameters,
// isBase64Encoded, pathParameters, queryStringParameters and requestContext
// (Tencent's "函数 URL 概述", product 583 doc 96099): its body is the text as
// sent, its query in queryString ({"a":"1","b":"2"} in that page, read
// 2026-12-02). An API gateway sends isBase64Encoded true when it encoded a
// binary body (its Base64 setting); the flag is honoured wherever it
// appears. Its query is in queryString too (scf-go-lib's APIGatewayRequest,
// a value or a list a name) and in queryStringParameters.
type httpRequest struct {
	Method      string          `json:"httpMethod"`
	Headers     trigger.Headers `json:"headers"`
	Query       trigger.Query   `json:"queryString"`
	QueryParams trigger.Query   `json:"queryStringParameters"`
	Body        trigger.Text    `json:"body"`
	IsBase64    bool            `json:"isBase64Encoded"`
}

// decodeHTTP reads a function URL request, or an API gateway request
// (integrated response) when it has a requestContext. A request that cannot
// be read is answered in the trigger's shape too.
func decodeHTTP(payload []byte, p *trigger.Probe) trigger.Event {
	name, what, reply := eventFunctionURL, "a function URL request", trigger.HTTPShape(urlReply)
	if p.Has("requestContext") {
		name, what, reply = eventAPIGateway, "an API gateway request", trigger.HTTPShape(gatewayReply)
	}
	var req httpRequest
	err := json.Unmarshal(payload, &req)
	ev := trigger.HTTPEvent(name, reply, what, trigger.GatewayRequest{
		Method: req.Method, Headers: req.Headers, Query: req.Query.With(req.QueryParams), Body: req.Body, IsBase64: req.IsBase64,
	}, err, payload)
	// The API gateway says how long it waits for the function.
	if s, ok := ev.HTTP.Headers["endpoint-timeout"]; ok && ev.Kind == trigger.KindHTTP {
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n > 0 {
			ev.HTTP.Timeout = max(time.Duration(n)*time.Second-gatewayMargin, time.Second)
		}
	}
	return ev
}

// gatewayReply is the API gateway's integrated response; any other shape
// makes the gateway answer "Invalid scf response format".
func gatewayReply(r trigger.HTTPReply) any {
	return events.APIGatewayResponse{StatusCode: r.StatusCode, Headers: r.Headers, Body: r.Body}
}

// functionURLResponse is the answer a function URL turns into its HTTP
// response ("函数 URL 概述": statusCode, headers, body).
type functionURLResponse struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

// urlReply is the function URL's answer.
func urlReply(r trigger.HTTPReply) any {
	return functionURLResponse{StatusCode: r.StatusCode, Headers: r.Headers, Body: r.Body}
}
