package scf

import (
	"errors"
	"net/url"
	"strings"

	"github.com/removetag/removetag/pkg/adapters/trigger"
	"github.com/removetag/removetag/pkg/job/storage"
)

// cosRecord is what the function reads of a COS notification's record; the
// rest (size, eventTime, meta, …) varies between Tencent's pages — a number
// in one, a string in the console's test template — and is not read.
type cosRecord struct {
	COS struct {
		Bucket struct {
			AppID  trigger.Text `json:"appid"`
			Name   string       `json:"name"`
			Region trigger.Text `json:"region"`
		} `json:"cosBucket"`
		Object struct {
			Key string `json:"key"`
		} `json:"cosObject"`
	} `json:"cos"`
	Event struct {
		Name string `json:"eventName"`
	} `json:"event"`
}

// errNotCOS is the error of a record without the bucket's name and appid.
var errNotCOS = errors.New("not a COS record (no cos.cosBucket.name and appid; this function handles COS uploads)")

// cosObject makes the object of a COS record; a record of another event than
// an upload is skipped.
func cosObject(r cosRecord) (trigger.Object, error) {
	b := r.COS.Bucket
	appID := string(b.AppID)
	if b.Name == "" || appID == "" {
		return trigger.Object{}, errNotCOS
	}
	bucket := b.Name
	if !strings.HasSuffix(bucket, "-"+appID) {
		bucket += "-" + appID
	}
	key := objectKey(r.COS.Object.Key, appID, b.Name, bucket)
	loc, err := storage.ParseLocation(storage.SchemeCOS + "://" + bucket + "/" + key)
	switch {
	case err != nil:
		return trigger.Object{}, err
	case key == "":
		return trigger.Object{}, errors.New("no object key")
	}
	name := r.Event.Name
	o := trigger.Object{Location: loc, Region: string(b.Region)}
	return trigger.Skipped(o, name == "" || strings.HasPrefix(name, "cos:ObjectCreated:"), name), nil
}

// objectKey returns the object key of a COS event's cosObject.key, which is
// "/{appid}/{bucket name}/{key}": the prefix is removed (with the name as the
// event gives it, or the full bucket name), and the key is URL-decoded if it
// holds escapes.
func objectKey(eventKey, appID, name, bucket string) string {
	key := eventKey
	for _, prefix := range []string{"/" + appID + "/" + name + "/", "/" + appID + "/" + bucket + "/"} {
		if rest, ok := strings.CutPrefix(eventKey, prefix); ok {
			key = rest
			break
		}
	}
	key = strings.TrimPrefix(key, "/")
	if strings.Contains(key, "%") {
		if k, err := url.PathUnescape(key); err == nil {
			key = k
		}
	}
	return key
}
