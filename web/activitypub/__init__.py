"""ActivityPub endpoints: discovery, actor documents and collections, inboxes."""
