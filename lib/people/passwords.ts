import { hash, verify } from '@node-rs/argon2';

/** DESIGN.md: 12–256 characters (counted as the user sees them: code points). */
export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 256;

/** OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): ~20 ms here, cheap to run, costly to guess. */
const PARAMS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function passwordProblem(password: string): string | undefined {
  const length = [...password].length;
  if (length < PASSWORD_MIN) return `must be at least ${PASSWORD_MIN} characters`;
  if (length > PASSWORD_MAX) return `must be at most ${PASSWORD_MAX} characters`;
  return undefined;
}

export function hashPassword(password: string): Promise<string> {
  return hash(password, PARAMS);
}

/**
 * A hash of nothing anyone knows, verified against when there is no account (or no password):
 * a wrong email then costs the same argon2 work as a wrong password, so timing tells nothing.
 */
let decoy: Promise<string> | undefined;

export async function verifyPassword(stored: string | null | undefined, password: string): Promise<boolean> {
  // Over-long input is refused after the same work as any other wrong password.
  const candidate = [...password].length > PASSWORD_MAX ? '' : password;
  const target = stored ?? (await (decoy ??= hashPassword(`decoy-${Math.random()}-${Date.now()}`)));
  try {
    const ok = await verify(target, candidate);
    return ok && stored !== null && stored !== undefined && candidate !== '';
  } catch {
    return false;
  }
}
