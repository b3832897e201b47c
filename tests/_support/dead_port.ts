// A loopback port where nothing listens, for tests that need a refused
// connection. Port 1 (tcpmux) is below the ephemeral range, so no server of
// another test running alongside can be given it, as it can be given a port
// a test has just released (one CI run got another test's 404 that way).
export const DEAD_PORT = 1;
