// IntOrString values scaled against a total (k8s.io/apimachinery/pkg/util/intstr).

/** intstr.GetScaledValueFromIntOrPercent: a percentage of `total`, rounded up or down. */
export function scaledValue(v: unknown, total: number, roundUp: boolean): number {
  if (typeof v === "number") return v;
  if (typeof v === "string") {
    const m = /^([0-9]+)%$/.exec(v);
    if (m) {
      const x = (Number(m[1]) * total) / 100;
      return roundUp ? Math.ceil(x) : Math.floor(x);
    }
    if (/^[0-9]+$/.test(v)) return Number(v);
  }
  throw new Error(`invalid value for IntOrString: invalid value ${JSON.stringify(v)}`);
}
