package metrics

// CountFigures returns, by imapi.Counts field, the names of the invocation
// figures (and the fields that are none) and of the job figures.
func CountFigures() (own map[string]string, notOwn []string, jobs map[string]string) {
	own, jobs = map[string]string{}, map[string]string{}
	for _, f := range ownFlows {
		own[f.field] = f.name
	}
	for _, f := range jobCounts {
		jobs[f.field] = f.name
	}
	return own, notOwnFlows, jobs
}
