// Sign in (with the TOTP challenge), sign up (with the code Cognito mails when deployed), and the
// security page where a signed-in user sets up a TOTP authenticator.
import * as api from './api.js';
import * as auth from './auth.js';
import { passwordProblem, showError } from './messages.js';
import { fill, h, uid } from './ui.js';

function input(name, label, attrs = {}) {
  const id = uid(name);
  return [h('label', { for: id }, label), h('input', { id, name, required: true, ...attrs })];
}

function card(title, ...body) {
  return h('div.page.auth-page', {}, h('section.panel.auth-card', { 'aria-labelledby': 'view-title' },
    h('h1#view-title', { tabindex: '-1' }, title), ...body));
}


export class SignInPage {
  constructor(next) {
    this.next = next || '#/trade';
    this.error = h('div.form-error', { role: 'alert', 'data-testid': 'auth-error' });
    this.form = h('form.stack-form', { 'aria-labelledby': 'view-title', onsubmit: (e) => {
      e.preventDefault();
      this.submit();
    } },
    input('email', 'Email', { type: 'email', autocomplete: 'username', inputmode: 'email' }),
    input('password', 'Password', { type: 'password', autocomplete: 'current-password' }),
    this.error,
    h('button.primary', { type: 'submit' }, 'Sign in'),
    h('p', {}, 'New here? ', h('a', { href: '#/signup' }, 'Create an account')));
    this.el = card('Sign in', this.form);
  }

  start() {}

  stop() {}

  async submit() {
    const f = this.form;
    this.error.textContent = '';
    f.setAttribute('aria-busy', 'true');
    try {
      const r = await auth.signIn(f.email.value.trim(), f.password.value);
      if (r === 'mfa') this.askCode();
      else location.hash = this.next;
    } catch (err) {
      showError(this.error, err);
    } finally {
      f.removeAttribute('aria-busy');
    }
  }

  askCode() {
    const error = h('div.form-error', { role: 'alert', 'data-testid': 'auth-error' });
    const form = h('form.stack-form', { 'aria-labelledby': 'view-title', onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = '';
      try {
        await auth.answerMfa(form.code.value.trim());
        location.hash = this.next;
      } catch (err) {
        showError(error, err);
        form.code.select();
      }
    } },
    h('p', {}, 'Enter the 6-digit code from your authenticator app.'),
    input('code', 'Authentication code', { inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}',
                                           maxlength: '6' }),
    error,
    h('button.primary', { type: 'submit' }, 'Verify'),
    h('button.link-button', { type: 'button', onclick: () => {  // e.g. when the sign-in session expired
      title.textContent = 'Sign in';
      form.replaceWith(this.form);
      this.form.password.value = '';
      this.form.password.focus();
    } }, 'Start over'));
    const title = this.el.querySelector('h1');
    title.textContent = 'Two-factor authentication';
    this.form.replaceWith(form);
    form.code.focus();
  }
}

export class SignUpPage {
  constructor() {
    this.error = h('div.form-error', { role: 'alert', 'data-testid': 'auth-error' });
    this.form = h('form.stack-form', { 'aria-labelledby': 'view-title', onsubmit: (e) => {
      e.preventDefault();
      this.submit();
    } },
    input('email', 'Email', { type: 'email', autocomplete: 'username', inputmode: 'email' }),
    ...input('password', 'Password', { type: 'password', autocomplete: 'new-password',
                                       'aria-describedby': 'pw-hint' }),
    h('p.hint#pw-hint', {}, 'At least 10 characters, with upper- and lower-case letters and a digit.'),
    this.error,
    h('button.primary', { type: 'submit' }, 'Create account'),
    h('p', {}, 'Have an account? ', h('a', { href: '#/signin' }, 'Sign in')));
    this.el = card('Create an account', this.form);
  }

  start() {}

  stop() {}

  async submit() {
    const f = this.form;
    const email = f.email.value.trim();
    const password = f.password.value;
    this.error.textContent = '';
    const problem = passwordProblem(password);  // the same rules the server checks
    if (problem) {
      this.error.textContent = problem;
      f.password.focus();
      return;
    }
    try {
      const r = await auth.signUp(email, password);
      if (r.userConfirmed) return this.finish(email, password);
      this.askCode(email, password, r.codeSentTo);
    } catch (err) {
      showError(this.error, err);
    }
  }

  /** `sentTo`: where Cognito mailed the code (masked); null on the local stack, which
   *  mails nothing and accepts any code. */
  askCode(email, password, sentTo) {
    const error = h('div.form-error', { role: 'alert', 'data-testid': 'auth-error' });
    const form = h('form.stack-form', { 'aria-labelledby': 'view-title', onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = '';
      try {
        await auth.confirmSignUp(email, form.code.value.trim());
        await this.finish(email, password);
      } catch (err) {
        showError(error, err);
      }
    } },
    h('p', { 'data-testid': 'code-note' }, sentTo
      ? `We sent a confirmation code to ${sentTo}.`
      : 'This exchange runs locally: no e-mail is sent, and any code is accepted.'),
    input('code', 'Confirmation code', { inputmode: 'numeric', autocomplete: 'one-time-code' }),
    error,
    h('button.primary', { type: 'submit' }, 'Confirm'));
    this.el.querySelector('h1').textContent = 'Confirm your email';
    this.form.replaceWith(form);
    form.code.focus();
  }

  async finish(email, password) {
    const r = await auth.signIn(email, password);
    location.hash = r === 'mfa' ? '#/signin' : '#/trade';
  }
}

export class SecurityPage {
  constructor() {
    this.body = h('div', {});
    this.el = h('div.page.security-page', {},
      h('h1#view-title', { tabindex: '-1' }, 'Security'),
      h('section.panel', { 'aria-labelledby': 'mfa-h' },
        h('div.panel-head', {}, h('h2#mfa-h', {}, 'Two-factor authentication (TOTP)')), this.body));
    this.intro();
  }

  start() {}

  stop() {}

  intro() {
    const error = h('div.form-error', { role: 'alert' });
    fill(this.body,
      h('p', {}, 'Protect your account with an authenticator app (Google Authenticator, 1Password, Authy…): '
        + 'after you set it up, signing in asks for its 6-digit code.'),
      error,
      h('button.primary', { type: 'button', onclick: async () => {
        error.textContent = '';
        try {
          const token = await auth.accessToken();
          const r = await api.mfaAssociate(token);
          this.verify(r.secretCode);
        } catch (err) {
          showError(error, err);
        }
      } }, 'Set up authenticator app'));
  }

  verify(secret) {
    const email = auth.user()?.email || 'account';
    const uri = `otpauth://totp/Exchange:${encodeURIComponent(email)}?secret=${secret}&issuer=Exchange`;
    const error = h('div.form-error', { role: 'alert', 'data-testid': 'mfa-error' });
    const form = h('form.stack-form', { 'aria-label': 'Verify authenticator', onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = '';
      try {
        const token = await auth.accessToken();
        const r = await api.mfaVerify(token, form.code.value.trim(), form.deviceName.value.trim() || 'authenticator');
        if (!r.mfaEnabled) throw new Error('Wrong code, try again.');
        fill(this.body, h('p.success', { role: 'status', 'data-testid': 'mfa-enabled', tabindex: '-1' },
          'Two-factor authentication is on. Signing in now asks for a code from your app.'));
        this.body.firstChild.focus();
      } catch (err) {
        // a wrong code is a 400 (-1130): the session is fine, so the form stays
        showError(error, err);
        form.code.select();
      }
    } },
    input('code', '6-digit code from the app', { inputmode: 'numeric', autocomplete: 'one-time-code',
                                                  pattern: '[0-9]{6}', maxlength: '6' }),
    ...input('deviceName', 'Device name (optional)', { required: false, maxlength: '64', value: 'authenticator' }),
    error,
    h('button.primary', { type: 'submit' }, 'Verify and turn on'));
    fill(this.body,
      h('ol.steps', {},
        h('li', {}, 'In your authenticator app, add an account with this setup key (time-based):',
          h('p', {}, h('code.secret', { 'data-testid': 'totp-secret' }, secret.replace(/(.{4})/g, '$1 ').trim())),
          h('p', {}, 'or open ', h('a', { href: uri }, 'this otpauth link'), ' on the device with the app.')),
        h('li', {}, 'Enter the code the app shows:')),
      form);
    form.code.focus();
  }
}
