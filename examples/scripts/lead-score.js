// lead-score in JavaScript: the example step of examples/steps/lead-score,
// line for line, with the same outputs. Scores a lead from its Salesforce
// fields, grades it A, B or C, optionally writes the rating back, and counts
// the leads it has scored in the step's state.
//
// Try it: gust run examples/scripts/score-lead-js.json --event examples/events/web-lead.json

import { StepError } from "gust";

// Free mail providers: a lead writing from one is less likely a buyer.
const FREE_MAIL = ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com"];
// Words in a title that mark a decision maker.
const SENIOR_TITLES = ["chief", "vp", "president", "head", "director", "cto", "ceo"];

/** Scores a lead from its fields: `{ points, grade, reasons }`. */
export function score(lead) {
  const text = (field) => (typeof lead[field] === "string" ? lead[field].toLowerCase() : "");
  let points = 0;
  const reasons = [];
  const add = (earned, reason) => {
    points += earned;
    reasons.push(reason);
  };
  const email = text("Email");
  const at = email.indexOf("@");
  if (at >= 0 && !FREE_MAIL.includes(email.slice(at + 1))) {
    add(30, "business email");
  }
  if (text("Company") !== "") {
    add(10, "company given");
  }
  const title = text("Title");
  if (title.split(/[^\p{L}\p{N}]/u).some((word) => SENIOR_TITLES.includes(word))) {
    add(25, "decision maker");
  } else if (title.includes("manager")) {
    add(10, "manager");
  }
  const size = lead.NumberOfEmployees;
  const employees = Number.isSafeInteger(size) && size >= 0 ? size : 0;
  if (employees >= 1000) {
    add(25, "1000+ employees");
  } else if (employees >= 100) {
    add(15, "100+ employees");
  } else if (employees >= 10) {
    add(5, "10+ employees");
  }
  if (text("LeadSource") === "web") {
    add(10, "came from the web");
  }
  const grade = points >= 70 ? "A" : points >= 40 ? "B" : "C";
  return { points, grade, reasons };
}

/**
 * @param {{ lead: Record<string, unknown>, lead_id?: string, write_back?: boolean }} input
 * @param {import("gust").Context} ctx
 */
export default function run(input, ctx) {
  const lead = input.lead;
  if (lead === null || typeof lead !== "object" || Array.isArray(lead)) {
    throw new StepError("the input has no `lead` object", { retryable: false });
  }
  const { points, grade, reasons } = score(lead);
  ctx.log.info(`Scored ${JSON.stringify(lead.Email ?? null)} at ${points} (${grade}).`);
  const rating = { A: "Hot", B: "Warm" }[grade] ?? "Cold";
  if (input.write_back === true) {
    const id = typeof input.lead_id === "string" ? input.lead_id : lead.Id;
    if (typeof id !== "string") {
      throw new StepError("`write_back` needs `lead_id` or the lead's `Id`", { retryable: false });
    }
    ctx.salesforce.update("Lead", id, { Rating: rating });
    ctx.log.info(`Wrote Rating ${rating} to Lead ${id}.`);
  }
  const earlier = ctx.state.get("scored");
  const scored = (Number.isSafeInteger(earlier) && earlier >= 0 ? earlier : 0) + 1;
  ctx.state.set("scored", scored);
  return {
    email: lead.Email ?? null,
    score: points,
    grade,
    rating,
    reasons,
    leads_scored: scored,
  };
}
