package awslambda

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/job/storage"
)

// s3Record is what the function reads of an S3 notification's record; the
// rest (size, eventTime, …) is not read, so its type cannot fail an event.
type s3Record struct {
	EventName string `json:"eventName"`
	AWSRegion string `json:"awsRegion"`
	S3        struct {
		Bucket s3Bucket `json:"bucket"`
		Object s3Object `json:"object"`
	} `json:"s3"`
}

type (
	s3Bucket struct {
		Name string `json:"name"`
	}
	s3Object struct {
		Key string `json:"key"`
	}
)

// recordObject makes the object of an S3 notification's record (its
// eventSource is aws:s3: records() routes it here); a record of another
// event than an upload is skipped.
func recordObject(r s3Record) (trigger.Object, error) {
	if r.S3.Bucket.Name == "" {
		return trigger.Object{}, errors.New("an S3 record without s3.bucket.name")
	}
	o, err := s3Upload(r.S3.Bucket.Name, r.S3.Object.Key, r.AWSRegion)
	if err != nil {
		return trigger.Object{}, err
	}
	return trigger.Skipped(o, strings.HasPrefix(r.EventName, "ObjectCreated:"), r.EventName), nil
}

// s3Upload makes the object of an S3 event from its bucket and its key, which
// S3 URL-encodes (a space as "+"; the "Event message structure" page of the
// S3 user guide).
func s3Upload(bucket, eventKey, region string) (trigger.Object, error) {
	key, err := url.QueryUnescape(eventKey)
	if err != nil {
		return trigger.Object{}, fmt.Errorf("object key %q is not URL-encoded: %w", trigger.Clip(eventKey, 200), err)
	}
	if key == "" {
		return trigger.Object{}, errors.New("no object key")
	}
	loc, err := storage.ParseLocation(storage.SchemeS3 + "://" + bucket + "/" + key)
	if err != nil {
		return trigger.Object{}, err
	}
	return trigger.Object{Location: loc, Region: region}, nil
}

// eventBridgeEvent is what the function reads of an EventBridge event.
type eventBridgeEvent struct {
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Region     string          `json:"region"`
	Detail     json.RawMessage `json:"detail"`
}

// decodeEventBridge reads an EventBridge event: a schedule's envelope runs
// the sweep (a schedule with an Input delivers the Input instead: a direct
// invocation); S3's events (source aws.s3) are handled as S3 notifications:
// "Object Created" is an upload, any other S3 event is skipped.
func decodeEventBridge(payload []byte) trigger.Event {
	var ev eventBridgeEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return trigger.Unknown(eventEventBridge, "an EventBridge event that cannot be read ("+err.Error()+")", payload)
	}
	switch {
	case ev.DetailType == "Scheduled Event":
		return trigger.Timer(eventSchedule, "")
	case ev.Source == "aws.s3":
		return decodeS3EventBridge(ev, payload)
	}
	return trigger.Unknown(eventEventBridge,
		fmt.Sprintf("an EventBridge event %q from %s: this function handles schedules (a rule's envelope or its Input) and S3 uploads (aws.s3) only", ev.DetailType, ev.Source), payload)
}

// decodeS3EventBridge reads an S3 event delivered by EventBridge (the
// "EventBridge event message structure" page of the S3 user guide): the
// object is detail.bucket.name and detail.object.key, the key URL-decoded as
// in S3's own notifications (as aws-powertools does in
// S3EventBridgeNotificationObject.key).
func decodeS3EventBridge(ev eventBridgeEvent, payload []byte) trigger.Event {
	var d struct {
		Bucket s3Bucket `json:"bucket"`
		Object s3Object `json:"object"`
	}
	if err := json.Unmarshal(ev.Detail, &d); err != nil || d.Bucket.Name == "" {
		why := "no detail.bucket.name"
		if err != nil {
			why = err.Error()
		}
		return trigger.Unknown(eventS3EventBridge, "an S3 event from EventBridge that cannot be read ("+why+")", payload)
	}
	o, err := s3Upload(d.Bucket.Name, d.Object.Key, ev.Region)
	if err != nil {
		return trigger.Unknown(eventS3EventBridge, "an S3 event from EventBridge: "+err.Error(), payload)
	}
	return trigger.Objects(eventS3EventBridge, trigger.Skipped(o, ev.DetailType == "Object Created", ev.DetailType))
}
