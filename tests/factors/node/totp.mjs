// An independent TOTP client: reads {"uri": "otpauth://totp/...", "epochs": [seconds...]}
// on stdin, and prints the codes otplib computes for each moment, as a JSON list.
// The secret, period, digits and algorithm are read from the otpauth:// URI exactly as an
// authenticator app would read them from the QR code.
import { generate } from "otplib";

const input = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => { text += chunk; });
  process.stdin.on("end", () => resolve(text));
}));
const uri = new URL(input.uri);
if (uri.protocol !== "otpauth:" || uri.host !== "totp") throw new Error(`not a TOTP URI: ${input.uri}`);
const options = {
  secret: uri.searchParams.get("secret"),
  period: Number(uri.searchParams.get("period") ?? 30),
  digits: Number(uri.searchParams.get("digits") ?? 6),
  algorithm: (uri.searchParams.get("algorithm") ?? "SHA1").toLowerCase(),
};
const codes = [];
for (const epoch of input.epochs) {
  codes.push(await generate({ ...options, epoch }));
}
process.stdout.write(JSON.stringify(codes));
