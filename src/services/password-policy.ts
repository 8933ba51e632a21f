import { PASSWORD_MIN_LENGTH } from '../config';
import { normalizePassword } from './passwords';

// The rules a new password must meet: NIST SP 800-63B §5.1.1.2 (memorized
// secrets), and the same in the rev 4 draft's §3.1.1.2 (passwords):
// - at least 8 characters, each Unicode code point counted once, after NFKC
//   normalization (so "é" typed as e + U+0301 is one character, not two);
// - no composition rules (no "one digit, one symbol") and no truncation; at
//   least 64 characters accepted (the schema's upper bound is far above);
// - refused when on a list of commonly used or compromised passwords.
// Sign-in never applies these rules: an older password keeps working.
// A password of only spaces and control or format characters is refused on
// its own: NIST counts code points, but eight spaces or eight NULs are not
// eight characters anyone chose, and invisible ones count for nothing.

/** Why a password was refused, worded to follow the field name ("password: …") in an error description. */
export const PASSWORD_PROBLEMS = {
  blank: 'must not be only spaces or invisible characters',
  short: `must be at least ${PASSWORD_MIN_LENGTH} characters`,
  common: 'is too common: it is on a list of passwords that attackers try first. Choose another one',
} as const;
export type PasswordProblem = keyof typeof PASSWORD_PROBLEMS;

/** Control (Cc) and format (Cf, e.g. zero-width space) characters: nothing a person sees or types as a character. */
const INVISIBLE = /[\p{Cc}\p{Cf}]/gu;
const BLANK = /^[\p{White_Space}\p{Cc}\p{Cf}]*$/u;

/** The length NIST counts: code points of the normalized password, invisible ones left out. */
function passwordLength(normalized: string): number {
  let length = 0;
  for (const _ of normalized.replace(INVISIBLE, '')) length += 1;
  return length;
}

// The common-password list ships with the project: the 49,233 passwords of
// @zxcvbn-ts/language-common (see README, "Dependencies"), all lower-case
// ASCII. It is imported on first use, not at start-up, so an isolate that
// never sees a sign-up never pays for unpacking it; then it stays in memory
// for the isolate's life (unpacking it takes tens of milliseconds, once).
// Only entries long enough to pass the length rule are kept (about 18,000):
// a shorter password is refused before the list is asked. (`length` counts
// UTF-16 units, never fewer than code points, so no entry that could match
// is dropped.)
let commonPasswords: Promise<ReadonlySet<string>> | null = null;

function loadCommonPasswords(): Promise<ReadonlySet<string>> {
  commonPasswords ??= import('@zxcvbn-ts/language-common').then(
    ({ dictionary }) => new Set(dictionary['passwords-common'].filter((entry) => entry.length >= PASSWORD_MIN_LENGTH)),
    (error: unknown) => {
      // A failed load is not remembered: the next sign-up tries again.
      commonPasswords = null;
      throw error;
    },
  );
  return commonPasswords;
}

/**
 * Whether a normalized password is on the common-password list. Compared
 * lower-cased ("Password123" is as guessable as "password123", and the list
 * is lower-case) and without invisible characters, which count for nothing.
 */
async function isCommonPassword(normalized: string): Promise<boolean> {
  return (await loadCommonPasswords()).has(normalized.replace(INVISIBLE, '').toLowerCase());
}

/** Why a new password is refused, or null when it may be used. */
export async function passwordProblem(password: string): Promise<PasswordProblem | null> {
  const normalized = normalizePassword(password);
  if (BLANK.test(normalized)) return 'blank';
  if (passwordLength(normalized) < PASSWORD_MIN_LENGTH) return 'short';
  if (await isCommonPassword(normalized)) return 'common';
  return null;
}
