// Package records is what a job's input is: the records (an account and the
// tags to remove from it, with the service's limits), the formats they come in
// and their decoders, the sources that stream them, the positions to resume
// them at, and the checks that list an input's problems.
//
//   - [Record] is one element of the API's UserTags array; [Record.Validate]
//     applies the service's limits ([MaxAccountBytes], [MaxTagBytes],
//     [MaxTagsPerRecord]).
//   - A [Source] streams records once; a [Positioner] also says where each one
//     starts ([Position]), and a [Decoder] where to resume after it.
//   - [NewDecoder] reads JSON documents, JSON Lines and CSV ([Format], picked by
//     [FormatOf]), gzip-compressed or not, strictly and in a streaming way,
//     with the line or element of each problem ([Problem]).
//   - [Check] and [ReadJob] read an input to its end and gather its problems in
//     one [InvalidInputError] (the first [MaxProblems], counted all).
//
// The package uses the standard library, and klauspost/compress's gzip for
// a faster inflate, only: it knows nothing of the API
// client, the engine (package imapi, which consumes a Source), the platforms
// or the storage.
package records
