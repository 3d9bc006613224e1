package emulator

import "github.com/removetag/removetag/pkg/imapi"

// API paths served by the emulator, relative to [Server.URL]: the tag APIs of
// both families (imapi.AllMemberPush, imapi.TimPush). They are the emulator's
// own copy of the documentation's paths, so that tests hold the client's
// against them. Sources (tencentcloud.com product 1047, looked up 2026-12-02):
// all_member_push 37174 (im_remove_tag), 37175 (im_remove_all_tags); the Push
// service 60567/67820 get_tag, 60568/67821 add_tag, 60569/67822 remove_tag,
// 60570/67823 clear_all_tags.
const (
	RemoveTagPath     = "/v4/all_member_push/im_remove_tag"
	AddTagPath        = "/v4/all_member_push/im_add_tag"
	GetTagPath        = "/v4/all_member_push/im_get_tag"
	RemoveAllTagsPath = "/v4/all_member_push/im_remove_all_tags"

	PushRemoveTagPath    = "/v4/timpush/remove_tag"
	PushAddTagPath       = "/v4/timpush/add_tag"
	PushGetTagPath       = "/v4/timpush/get_tag"
	PushClearAllTagsPath = "/v4/timpush/clear_all_tags"
)

// verb is what a served API does.
type verb int

const (
	verbRemove verb = iota // {"UserTags":[…]}: remove the tags
	verbAdd                // {"UserTags":[…]} (timpush: and "Replace"): add (or replace) the tags
	verbGet                // {"To_Account":[…]}: answer the tags
	verbClear              // {"To_Account":[…]}: remove every tag
)

// apiInfo is one served API.
type apiInfo struct {
	path   string
	family imapi.API
	verb   verb
}

// api is a served API's index in served (its rate window's too).
type api int

// served lists the served APIs.
var served = []apiInfo{
	{RemoveTagPath, imapi.AllMemberPush, verbRemove},
	{AddTagPath, imapi.AllMemberPush, verbAdd},
	{GetTagPath, imapi.AllMemberPush, verbGet},
	{RemoveAllTagsPath, imapi.AllMemberPush, verbClear},
	{PushRemoveTagPath, imapi.TimPush, verbRemove},
	{PushAddTagPath, imapi.TimPush, verbAdd},
	{PushGetTagPath, imapi.TimPush, verbGet},
	{PushClearAllTagsPath, imapi.TimPush, verbClear},
}

// apiOf returns the API served at path.
func apiOf(path string) (api, bool) {
	for i, a := range served {
		if a.path == path {
			return api(i), true
		}
	}
	return 0, false
}

// info returns the API's row.
func (a api) info() apiInfo { return served[a] }

// removes reports whether the API takes tags away (remove, clear): the calls
// that faults hit and that Stats describes.
func (a api) removes() bool { v := served[a].verb; return v == verbRemove || v == verbClear }

// accountsBody reports whether the API's body is {"To_Account":[…]}.
func (a api) accountsBody() bool { v := served[a].verb; return v == verbGet || v == verbClear }
