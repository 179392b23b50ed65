/** RFC 9457 problem details. */
export const PROBLEM_MEDIA_TYPE = 'application/problem+json';
/** A signed per-service policy bundle (`SignedBundleV1` as JSON). */
export const BUNDLE_MEDIA_TYPE = 'application/vnd.ward.bundle.v1+json';
