-- 0013: credential types for the integrations: `slack` (a webhook URL or a bot token), `smtp`
-- (a mail server and its login) and `anthropic` (an API key). The API validates each type's data;
-- this check keeps a stray SQL insert from storing a type no provider can use.
alter table credentials drop constraint credentials_type_check;
alter table credentials add constraint credentials_type_check
  check (type in ('bearer', 'basic', 'header', 'openai', 'hmac', 'slack', 'smtp', 'anthropic'));
