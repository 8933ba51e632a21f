import { z } from 'zod';
import { EMAIL_MAX_LENGTH, PASSWORD_MAX_LENGTH, USER_NAME_MAX_LENGTH } from '../config';
import type { Deps } from '../deps';
import type { User } from '../storage/schema';
import { createUser, findUserByEmail, updatePasswordHash } from '../storage/users';
import { PASSWORD_PROBLEMS, passwordProblem } from './password-policy';
import { dummyPasswordHash, hashPassword, needsRehash, verifyPassword } from './passwords';

/** Emails are compared case-insensitively: stored trimmed and lower-cased. */
export const emailSchema = z.string().trim().toLowerCase().pipe(z.email('is not a valid email address').max(EMAIL_MAX_LENGTH));
/**
 * A new password (sign-up): the policy of NIST SP 800-63B §5.1.1.2, in
 * services/password-policy.ts, with why it was refused as the message. The
 * upper bound only limits the work of hashing; it is far above the 64
 * characters NIST asks to accept. Async: the common-password list loads on
 * first use, so parse with `safeParseAsync`.
 */
export const passwordSchema = z
  .string()
  .max(PASSWORD_MAX_LENGTH, { message: `must be at most ${PASSWORD_MAX_LENGTH} characters`, abort: true })
  .superRefine(async function passwordPolicy(password, ctx) {
    const problem = await passwordProblem(password);
    if (problem) ctx.addIssue({ code: 'custom', message: PASSWORD_PROBLEMS[problem] });
  });

export const signupSchema = z.object({
  email: emailSchema,
  password: passwordSchema,
  name: z.string().trim().min(1, 'is required').max(USER_NAME_MAX_LENGTH, `must be at most ${USER_NAME_MAX_LENGTH} characters`),
});
export type SignupInput = z.infer<typeof signupSchema>;

export const credentialsSchema = z.object({
  email: emailSchema,
  // Not passwordSchema: a sign-in must not reveal the password rules, only fail.
  password: z.string().min(1, 'is required').max(PASSWORD_MAX_LENGTH, 'is too long'),
});
export type Credentials = z.infer<typeof credentialsSchema>;

/** Creates an account; null when the email is already registered. */
export async function signUp({ db }: Deps, input: SignupInput): Promise<User | null> {
  return createUser(db, { email: input.email, name: input.name, passwordHash: await hashPassword(input.password) });
}

export type Authentication = { ok: true; user: User } | { ok: false; userId: string | null };

/**
 * Checks an email and password. An unknown email costs one PBKDF2 run like a
 * wrong password, and the caller answers both alike: nothing tells which one
 * was wrong. (The failed user's id is only for the audit trail.) A hash made
 * with older parameters is replaced after a good sign-in.
 */
export async function authenticate({ db }: Deps, credentials: Credentials): Promise<Authentication> {
  const user = await findUserByEmail(db, credentials.email);
  const ok = await verifyPassword(credentials.password, user?.passwordHash ?? (await dummyPasswordHash()));
  if (!user || !ok) return { ok: false, userId: user?.id ?? null };
  if (needsRehash(user.passwordHash)) await updatePasswordHash(db, user.id, await hashPassword(credentials.password));
  return { ok: true, user };
}
