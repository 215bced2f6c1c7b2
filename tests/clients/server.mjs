// The client-library and browser tests start berth the same way the contract tests do.
export { startServer, oracle, waitFor, sleep, testdata, post, get } from "../contract/server.mjs";
