import { describe, expect, it } from "vitest";
import {
  aggregateMessage,
  duplicate,
  fieldErrorBody,
  fieldErrorMessage,
  forbidden,
  goQuote,
  invalid,
  isDNS1035Label,
  isDNS1123Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isValidLabelValue,
  isValidPathSegmentName,
  notSupported,
  required,
  statusCauses,
  tooLong,
  utf8Length,
  validateAnnotations,
  validateLabels,
} from "./validation.ts";

const subdomainMsg =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const labelMsg =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const dns1035Msg =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const nameMsg =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const labelValueMsg =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

describe("name validators", () => {
  it("IsDNS1123Subdomain", () => {
    expect(isDNS1123Subdomain("example.com")).toEqual([]);
    expect(isDNS1123Subdomain("Example")).toEqual([subdomainMsg]);
    expect(isDNS1123Subdomain("a".repeat(254))).toEqual(["must be no more than 253 characters"]);
    expect(isDNS1123Subdomain(`-${"a".repeat(253)}`)).toEqual([
      "must be no more than 253 characters",
      subdomainMsg,
    ]);
  });

  it("IsDNS1123Label", () => {
    expect(isDNS1123Label("my-name")).toEqual([]);
    expect(isDNS1123Label("a.b")).toEqual(["must not contain dots"]);
    expect(isDNS1123Label("A")).toEqual([labelMsg]);
    expect(isDNS1123Label("a".repeat(64))).toEqual(["must be no more than 63 characters"]);
  });

  it("IsValidPathSegmentName", () => {
    expect(isValidPathSegmentName("system:node-proxier")).toEqual([]);
    expect(isValidPathSegmentName("..")).toEqual(["may not be '..'"]);
    expect(isValidPathSegmentName(".")).toEqual(["may not be '.'"]);
    expect(isValidPathSegmentName("a/b%c")).toEqual(["may not contain '/'", "may not contain '%'"]);
  });

  it("IsDNS1035Label", () => {
    expect(isDNS1035Label("abc-123")).toEqual([]);
    expect(isDNS1035Label("1abc")).toEqual([dns1035Msg]);
  });

  it("IsQualifiedName", () => {
    expect(isQualifiedName("app.kubernetes.io/name")).toEqual([]);
    expect(isQualifiedName("MyName")).toEqual([]);
    expect(isQualifiedName("a b")).toEqual([nameMsg]);
    expect(isQualifiedName("")).toEqual(["name part must be non-empty", nameMsg]);
    expect(isQualifiedName("/a")).toEqual(["prefix part must be non-empty"]);
    expect(isQualifiedName("Example.com/a")).toEqual([`prefix part ${subdomainMsg}`]);
    expect(isQualifiedName(`${"a".repeat(254)}/b`)).toEqual([
      "prefix part must be no more than 253 bytes",
    ]);
    expect(isQualifiedName("a".repeat(64))).toEqual(["name part must be no more than 63 bytes"]);
    expect(isQualifiedName("a/b/c")).toEqual([
      "a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ]);
  });

  it("IsValidLabelValue", () => {
    expect(isValidLabelValue("")).toEqual([]);
    expect(isValidLabelValue("my_value.1")).toEqual([]);
    expect(isValidLabelValue("-a")).toEqual([labelValueMsg]);
    expect(isValidLabelValue("a".repeat(64))).toEqual(["must be no more than 63 bytes"]);
  });

  it("counts bytes as Go does", () => {
    expect(utf8Length("aé€😀")).toBe(1 + 2 + 3 + 4);
  });
});

describe("field errors", () => {
  it.each([
    [
      invalid("spec.replicas", -1, "must be greater than or equal to 0"),
      "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    ],
    [
      required("metadata.name", "name or generateName is required"),
      "metadata.name: Required value: name or generateName is required",
    ],
    [required("spec.containers"), "spec.containers: Required value"],
    [
      invalid("spec.selector", { matchLabels: { app: "web" } }, "field is immutable"),
      `spec.selector: Invalid value: {"matchLabels":{"app":"web"}}: field is immutable`,
    ],
    [invalid("metadata.name", "Web", "bad"), `metadata.name: Invalid value: "Web": bad`],
    [invalid("spec.x", 1.5, "d"), "spec.x: Invalid value: 1.5: d"],
    [invalid("spec.x", true, "d"), "spec.x: Invalid value: true: d"],
    [invalid("spec.x", ["a<b"], "d"), `spec.x: Invalid value: ["a\\u003cb"]: d`],
    [invalid("spec.x", null, "d"), "spec.x: Invalid value: null: d"],
    [
      notSupported("spec.restartPolicy", "x", ["a", "b"]),
      `spec.restartPolicy: Unsupported value: "x": supported values: "a", "b"`,
    ],
    [notSupported("spec.x", "x", []), `spec.x: Unsupported value: "x"`],
    [forbidden("spec.nodeName", "may not be set"), "spec.nodeName: Forbidden: may not be set"],
    [
      duplicate("spec.containers[1].name", "web"),
      `spec.containers[1].name: Duplicate value: "web"`,
    ],
    [
      tooLong("metadata.annotations", 262144),
      "metadata.annotations: Too long: may not be more than 262144 bytes",
    ],
    [tooLong("x", 1), "x: Too long: may not be more than 1 byte"],
    [tooLong("x", -1), "x: Too long: value is too long"],
  ])("prints %j", (e, msg) => {
    expect(fieldErrorMessage(e)).toBe(msg);
  });

  it("quotes strings as Go's %q does", () => {
    expect(goQuote('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(goQuote("tab\there\n")).toBe('"tab\\there\\n"');
    expect(goQuote("é😀")).toBe('"é😀"');
    expect(goQuote("\x00\x7f\u00a0")).toBe('"\\x00\\x7f\\u00a0"');
  });

  it("builds the 422 message as apierrors.NewInvalid", () => {
    const a = invalid("spec.replicas", -1, "must be greater than or equal to 0");
    const b = required("spec.template.spec.containers", "");
    expect(aggregateMessage("Deployment.apps", "web", [a])).toBe(
      `Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0`,
    );
    expect(aggregateMessage({ group: "apps", kind: "Deployment" }, "web", [a, b, a])).toBe(
      `Deployment.apps "web" is invalid: [spec.replicas: Invalid value: -1: must be greater than or equal to 0, spec.template.spec.containers: Required value]`,
    );
    expect(aggregateMessage({ kind: "Pod" }, "p", [])).toBe(`Pod "p" is invalid`);
    expect(aggregateMessage("Pod", "p", [a, a])).toBe(
      `Pod "p" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0`,
    );
  });

  it("builds status causes from the error bodies", () => {
    const e = invalid("spec.replicas", -1, "must be greater than or equal to 0");
    expect(fieldErrorBody(e)).toBe("Invalid value: -1: must be greater than or equal to 0");
    expect(statusCauses([e])).toEqual([
      {
        reason: "FieldValueInvalid",
        message: "Invalid value: -1: must be greater than or equal to 0",
        field: "spec.replicas",
      },
    ]);
  });
});

describe("metadata validation", () => {
  it("ValidateAnnotations", () => {
    expect(validateAnnotations({ "Example.com/Key": "v", plain: "" })).toEqual([]);
    expect(validateAnnotations(undefined)).toEqual([]);
    expect(validateAnnotations({ "a b": "v" }).map(fieldErrorMessage)).toEqual([
      `metadata.annotations: Invalid value: "a b": ${nameMsg}`,
    ]);
    const big = { k: "x".repeat(256 * 1024) };
    expect(validateAnnotations(big).map(fieldErrorMessage)).toEqual([
      "metadata.annotations: Too long: may not be more than 262144 bytes",
    ]);
    expect(validateAnnotations({ k: "x".repeat(256 * 1024 - 1) })).toEqual([]);
  });

  it("ValidateLabels", () => {
    expect(validateLabels({ app: "web" })).toEqual([]);
    expect(
      validateLabels({ app: "-x" }, "spec.selector.matchLabels").map(fieldErrorMessage),
    ).toEqual([`spec.selector.matchLabels: Invalid value: "-x": ${labelValueMsg}`]);
  });
});
