package imapi

import (
	"fmt"
	"sort"
	"strings"
)

// Region is a data center of Tencent Cloud Chat. An SDKAppID lives in one region;
// calling another region's domain fails with 70016/70020-style errors.
type Region string

// The regions of the service: RegionChina, the default, by name; the others
// are ParseRegion's and RegionNames' (the package keeps its exported names few).
const (
	RegionChina         Region = "china"
	regionSingapore     Region = "singapore"
	regionSeoul         Region = "seoul"
	regionFrankfurt     Region = "frankfurt"
	regionSiliconValley Region = "siliconvalley"
	regionJakarta       Region = "jakarta"
	regionTokyo         Region = "tokyo"
	regionMumbai        Region = "mumbai"
)

type regionInfo struct {
	// domain is the API's domain; backup its backup domain ("" where there is
	// none), kept from the service's list although the client does not fail over yet.
	domain, backup string
	aliases        []string
}

// regions maps each region to its domains and the other names people use for it.
var regions = map[Region]regionInfo{
	RegionChina:         {"console.tim.qq.com", "adminapi.my-imcloud.com", []string{"cn", "zh", "ap-guangzhou", "ap-shanghai", "ap-beijing"}},
	regionSingapore:     {"adminapisgp.im.qcloud.com", "adminapisgp.my-imcloud.com", []string{"sgp", "sg", "ap-singapore"}},
	regionSeoul:         {"adminapikr.im.qcloud.com", "adminapikr.my-imcloud.com", []string{"kr", "ap-seoul", "korea"}},
	regionFrankfurt:     {"adminapiger.im.qcloud.com", "adminapiger.my-imcloud.com", []string{"ger", "de", "eu-frankfurt", "germany"}},
	regionSiliconValley: {"adminapiusa.im.qcloud.com", "adminapiusa.my-imcloud.com", []string{"usa", "us", "na-siliconvalley", "silicon-valley", "silicon valley"}},
	regionJakarta:       {"adminapiidn.im.qcloud.com", "adminapiidn.my-imcloud.com", []string{"idn", "id", "ap-jakarta", "indonesia"}},
	regionTokyo:         {"adminapijpn.im.qcloud.com", "", []string{"jpn", "jp", "ap-tokyo", "japan"}},
	regionMumbai:        {"adminapiind.im.qcloud.com", "adminapiind.my-imcloud.com", []string{"ind", "in", "ap-mumbai", "india"}},
}

// ParseRegion accepts a region's name (case-insensitive) or a common alias such as
// "sgp" or "ap-singapore". The empty string means China, the service's default.
func ParseRegion(s string) (Region, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	if name == "" {
		return RegionChina, nil
	}
	for r, info := range regions {
		if name == string(r) {
			return r, nil
		}
		for _, a := range info.aliases {
			if name == a {
				return r, nil
			}
		}
	}
	return "", fmt.Errorf("unknown IM region %q (known: %s)", s, strings.Join(RegionNames(), ", "))
}

// RegionNames returns the names of all regions, sorted.
func RegionNames() []string {
	names := make([]string, 0, len(regions))
	for r := range regions {
		names = append(names, string(r))
	}
	sort.Strings(names)
	return names
}

// domain returns the region's API domain, or "" for an unknown region.
func (r Region) domain() string { return regions[r].domain }
