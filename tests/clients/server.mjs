// The client-library and browser tests start berth the same way the contract tests do.
export { startServer, oracle, waitFor, sleep, testdata, post, get } from "../contract/server.mjs";

// The tool both tool-calling test files offer. additionalProperties: false: by the specification the default allows
// more properties, and random weights then write property names until num_predict cuts the call.
export const weather = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string", enum: ["Paris", "Berlin", "Rome"] }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
      required: ["city", "unit"],
      additionalProperties: false,
    },
  },
};
