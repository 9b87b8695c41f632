package registry

// HeaderRouteRevision carries read-your-writes for routes: a response that
// changes a tag's route sends the tag's revision after the change, and a
// resolve or invoke of that tag that sends it back is never answered from
// a cached route older than that change (docs/route-cache.md).
const HeaderRouteRevision = "Kitaru-Route-Revision"
