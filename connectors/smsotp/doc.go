// Package smsotp is WSO2's "sms-otp-authenticator": a one-time code sent by text message to the
// number in the user's http://wso2.org/claims/mobile claim, as a second factor for the user an
// earlier step identified.
//
// It is emailotp with another channel: the shared engine (connectors/internal/otpcode) makes and
// checks codes and keeps only a keyed hash in State; this package finds the number, renders the
// message from Config.Message and hands it to a Sender (connectors/notify's HTTP SMS sender,
// whose request template is WSO2's custom SMS provider format, in production). The submitted
// param is "OTPCode".
package smsotp
