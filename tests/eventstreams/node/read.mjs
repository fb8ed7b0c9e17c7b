// Reads COUNT events of URL with the npm `eventsource` package, as EventStreams users do in Node, and prints
// "open" on each connection and each event as a JSON line {id, data}; exits after COUNT events.
import { EventSource } from "eventsource";

const [url, count] = [process.argv[2], Number(process.argv[3])];
let seen = 0;
const source = new EventSource(url);
source.addEventListener("open", () => console.log("open"));
source.addEventListener("message", (e) => {
  console.log(JSON.stringify({ id: e.lastEventId, data: e.data }));
  if (++seen >= count) { source.close(); process.exit(0); }
});
source.addEventListener("error", (e) => console.error(`error: ${e.message ?? ""} (readyState ${source.readyState})`));
